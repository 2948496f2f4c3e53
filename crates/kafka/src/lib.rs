//! The one place regsync configures a Kafka client. Every client (`regsync consume`, `record`,
//! `replay` from `kafka://`, the bridge's `kafka://` sink, the Lambda function's dead-letter
//! writer) gets its [`Settings`] from here, and nothing outside this crate names a client
//! property.
//!
//! Settings come from four places; a later one overrides an earlier one:
//! 1. the defaults of the client's role (group consumer, reader, producer; see [`rd`]);
//! 2. a properties file (`--kafka-config FILE` or `REGSYNC_KAFKA_CONFIG`), in librdkafka names,
//!    or a Java client's `client.properties` (its `sasl.jaas.config` login is read);
//! 3. the environment: [`ENV`] lists the variables (`REGSYNC_KAFKA_SASL_PASSWORD`, …);
//! 4. `-X key=value` on the command line.
//!
//! The security settings are checked before any connection ([`Settings::security`]): a missing
//! user name, a CA file that is not PEM or a Java trust store each get an error that names the
//! setting, where it came from, and what to do. A refused login is reported as soon as the
//! broker refuses it ([`rd::wait_ready`], [`rs::connect`]), not after a metadata timeout.

#[cfg(feature = "rdkafka")]
pub mod rd;
#[cfg(feature = "rskafka")]
pub mod rs;

use std::fmt;
use std::path::{Path, PathBuf};

/// The variable that names a properties file, when `--kafka-config` is not given.
pub const ENV_CONFIG: &str = "REGSYNC_KAFKA_CONFIG";

/// The environment variables read, each with the property it sets.
pub const ENV: [(&str, &str); 5] = [
    ("REGSYNC_KAFKA_SECURITY_PROTOCOL", "security.protocol"),
    ("REGSYNC_KAFKA_SASL_MECHANISM", "sasl.mechanism"),
    ("REGSYNC_KAFKA_SASL_USERNAME", "sasl.username"),
    ("REGSYNC_KAFKA_SASL_PASSWORD", "sasl.password"),
    ("REGSYNC_KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
];

/// Properties whose values are never printed.
const SECRET: [&str; 3] = ["sasl.password", "sasl.jaas.config", "ssl.key.password"];

/// A setting that cannot work, named with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value that is wrong on its face.
    #[error("{key} ({origin}): {why}")]
    Setting {
        /// The property.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What is wrong and what to do.
        why: String,
    },
    /// A properties file that cannot be read or parsed.
    #[error("--kafka-config {path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The brokers refused the login.
    #[error(
        "Kafka brokers {brokers} refused the SASL login of {login}: {reason}. Check sasl.username \
         and sasl.password (the password is set {origin}; REGSYNC_KAFKA_SASL_USERNAME / \
         REGSYNC_KAFKA_SASL_PASSWORD, -X, or the --kafka-config file) and sasl.mechanism"
    )]
    Authentication {
        /// The bootstrap servers.
        brokers: String,
        /// The user name and mechanism sent, e.g. `user "regsync" (SCRAM-SHA-512)`.
        login: String,
        /// Where the password came from.
        origin: Origin,
        /// The client's report.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error(
        "TLS with the Kafka brokers {brokers} failed: {reason}. Check that ssl.ca.location \
         ({ca}) holds the CA that signed the brokers' certificates and that security.protocol \
         ({protocol}) is what that listener speaks"
    )]
    Tls {
        /// The bootstrap servers.
        brokers: String,
        /// The CA in use.
        ca: String,
        /// The protocol in use.
        protocol: Protocol,
        /// The client's report.
        reason: String,
    },
    /// No broker answered in time.
    #[error(
        "cannot reach the Kafka brokers {brokers} (security.protocol={protocol}) within {secs} s: \
         {reason}. Check the bootstrap servers and that the listener speaks {protocol}"
    )]
    Unreachable {
        /// The bootstrap servers.
        brokers: String,
        /// The protocol in use.
        protocol: Protocol,
        /// How long it waited.
        secs: u64,
        /// The last report.
        reason: String,
    },
    /// Anything else the client reported.
    #[error("Kafka client for {brokers}: {reason}")]
    Client {
        /// The bootstrap servers.
        brokers: String,
        /// The client's report.
        reason: String,
    },
}

/// Where a property was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A role's default.
    Default,
    /// A properties file, at a line.
    File(PathBuf, usize),
    /// An environment variable.
    Env(&'static str),
    /// `-X` on the command line.
    Flag,
    /// A secret read at start, named by the variable given.
    Secret(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p, line) => write!(f, "in {}:{line}", p.display()),
            Origin::Env(name) => write!(f, "from {name}"),
            Origin::Flag => f.write_str("from -X"),
            Origin::Secret(var) => write!(f, "from the secret {var} names"),
        }
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// No TLS, no login.
    Plaintext,
    /// TLS, no login.
    Ssl,
    /// A login without TLS.
    SaslPlaintext,
    /// A login over TLS (what MSK's SCRAM listener and most managed clusters ask for).
    SaslSsl,
}

impl Protocol {
    /// Whether the connection is TLS.
    pub fn tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }

    /// Whether the client logs in.
    pub fn sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl => "SSL",
            Protocol::SaslPlaintext => "SASL_PLAINTEXT",
            Protocol::SaslSsl => "SASL_SSL",
        })
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// User name and password in the clear (only over TLS, please).
    Plain,
    /// SCRAM with SHA-256.
    ScramSha256,
    /// SCRAM with SHA-512 (MSK's SCRAM).
    ScramSha512,
    /// Another mechanism librdkafka may know (GSSAPI, OAUTHBEARER); passed on as is.
    Other(String),
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::Other(m) => m,
        })
    }
}

/// The login, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The user name (empty for mechanisms without one).
    pub username: String,
    /// The password (empty for mechanisms without one).
    pub password: String,
    /// Where the password was set.
    pub origin: Origin,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The security settings, checked ([`Settings::security`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: Protocol,
    /// The login, for the SASL protocols.
    pub login: Option<Login>,
    /// `ssl.ca.location`: the CA bundle (PEM); the system's roots when unset.
    pub ca: Option<PathBuf>,
}

/// Where a client's settings come from, before the brokers are known: a properties file,
/// the environment (read when this is made) and `-X` flags. [`Config::settings`] resolves it
/// for one client's brokers.
#[derive(Clone, Default)]
pub struct Config {
    file: Option<PathBuf>,
    flags: Vec<(String, String)>,
    env: Vec<(&'static str, String)>,
    login: Option<(String, String, &'static str)>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags: Vec<&str> = self.flags.iter().map(|(k, _)| k.as_str()).collect();
        let env: Vec<&str> = self.env.iter().map(|(k, _)| *k).collect();
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("flags", &flags)
            .field("env", &env)
            .field("login_from", &self.login.as_ref().map(|(_, _, from)| from))
            .finish()
    }
}

impl Config {
    /// A properties file (if any) and `-X` flags, with the [`ENV`] variables of this process.
    pub fn new(file: Option<PathBuf>, flags: Vec<(String, String)>) -> Self {
        Config::with_env(file, flags, |name| std::env::var(name).ok())
    }

    /// The same, with the environment read through `env`.
    pub fn with_env(
        file: Option<PathBuf>,
        flags: Vec<(String, String)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let env = ENV
            .iter()
            .filter_map(|(name, _)| env(name).map(|v| (*name, v)))
            .collect();
        Config {
            file,
            flags,
            env,
            login: None,
        }
    }

    /// A login read from a secret at start (the variable `from` names it): over the file,
    /// under the `REGSYNC_KAFKA_SASL_*` variables and `-X`.
    pub fn with_login(mut self, username: String, password: String, from: &'static str) -> Self {
        self.login = Some((username, password, from));
        self
    }

    /// What a process without flags has: the file named by `REGSYNC_KAFKA_CONFIG` and the
    /// [`ENV`] variables (what the Lambda function reads).
    pub fn from_env() -> Self {
        Config::new(std::env::var_os(ENV_CONFIG).map(PathBuf::from), Vec::new())
    }

    /// The checked settings of a client of `brokers`.
    pub fn settings(&self, brokers: &str) -> Result<Settings, Error> {
        let login: Vec<Property> = self
            .login
            .iter()
            .flat_map(|(user, password, from)| {
                [("sasl.username", user), ("sasl.password", password)].map(|(key, value)| {
                    Property {
                        key: key.to_owned(),
                        value: value.clone(),
                        origin: Origin::Secret(from),
                    }
                })
            })
            .collect();
        Settings::build(brokers, self.file.as_deref(), login, &self.flags, |name| {
            self.env
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    }
}

#[derive(Clone)]
struct Property {
    key: String,
    value: String,
    origin: Origin,
}

/// A client's brokers and properties, with where each came from.
#[derive(Clone)]
pub struct Settings {
    brokers: String,
    properties: Vec<Property>,
    security: Security,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|p| {
                let value = if SECRET.contains(&p.key.as_str()) {
                    "<redacted>"
                } else {
                    p.value.as_str()
                };
                (p.key.as_str(), value)
            })
            .collect();
        f.debug_struct("Settings")
            .field("brokers", &self.brokers)
            .field("properties", &shown)
            .finish()
    }
}

impl Settings {
    /// Settings from a properties file (if any), the environment (through `env`) and `-X`
    /// flags, in that order of precedence (the last wins), checked.
    pub fn resolve(
        brokers: &str,
        file: Option<&Path>,
        flags: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        Settings::build(brokers, file, Vec::new(), flags, env)
    }

    fn build(
        brokers: &str,
        file: Option<&Path>,
        secret: Vec<Property>,
        flags: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut properties = Vec::new();
        if let Some(path) = file {
            properties.extend(read_file(path)?);
        }
        properties.extend(secret);
        for (name, key) in ENV {
            if let Some(value) = env(name).filter(|v| !v.is_empty()) {
                properties.push(Property {
                    key: key.to_owned(),
                    value,
                    origin: Origin::Env(name),
                });
            }
        }
        for (key, value) in flags {
            properties.push(Property {
                key: key.trim().to_owned(),
                value: value.clone(),
                origin: Origin::Flag,
            });
        }
        let properties = translate(properties)?;
        let mut settings = Settings {
            brokers: brokers.to_owned(),
            properties,
            security: Security {
                protocol: Protocol::Plaintext,
                login: None,
                ca: None,
            },
        };
        settings.security = settings.check()?;
        Ok(settings)
    }

    /// The bootstrap servers, comma-separated.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// The value a property ends up with.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.last(key).map(|p| p.value.as_str())
    }

    /// The checked security settings.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// Every property but the ones this crate reads itself, last value each, in order.
    fn passthrough(&self) -> impl Iterator<Item = &Property> {
        self.properties.iter().enumerate().filter_map(|(i, p)| {
            let later = self.properties[i + 1..].iter().any(|q| q.key == p.key);
            (!later).then_some(p)
        })
    }

    fn last(&self, key: &str) -> Option<&Property> {
        self.properties.iter().rev().find(|p| p.key == key)
    }

    fn bad(&self, key: &str, why: impl Into<String>) -> Error {
        Error::Setting {
            key: key.to_owned(),
            origin: self.last(key).map_or(Origin::Default, |p| p.origin.clone()),
            why: why.into(),
        }
    }

    /// The security settings, checked on their face.
    fn check(&self) -> Result<Security, Error> {
        let protocol = match self.get("security.protocol") {
            None => Protocol::Plaintext,
            Some(v) => match v.to_ascii_uppercase().as_str() {
                "PLAINTEXT" => Protocol::Plaintext,
                "SSL" => Protocol::Ssl,
                "SASL_PLAINTEXT" => Protocol::SaslPlaintext,
                "SASL_SSL" => Protocol::SaslSsl,
                _ => {
                    return Err(self.bad(
                        "security.protocol",
                        format!(
                            "{v:?} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL \
                             (MSK: SASL_SSL for SCRAM on port 9096, SSL for TLS on 9094)"
                        ),
                    ));
                }
            },
        };
        let login = if protocol.sasl() {
            Some(self.login(protocol)?)
        } else {
            for key in ["sasl.mechanism", "sasl.username", "sasl.password"] {
                if self.get(key).is_some() {
                    return Err(self.bad(
                        key,
                        format!(
                            "is set, but security.protocol is {protocol}, which sends no login; \
                             set security.protocol=SASL_SSL (REGSYNC_KAFKA_SECURITY_PROTOCOL)"
                        ),
                    ));
                }
            }
            None
        };
        let ca = match self.get("ssl.ca.location") {
            None => None,
            Some(_) if !protocol.tls() => {
                return Err(self.bad(
                    "ssl.ca.location",
                    format!(
                        "is set, but security.protocol is {protocol}, which is not TLS; set \
                         security.protocol=SSL or SASL_SSL (REGSYNC_KAFKA_SECURITY_PROTOCOL)"
                    ),
                ));
            }
            Some(path) => {
                let path = PathBuf::from(path);
                self.check_pem(&path)?;
                Some(path)
            }
        };
        Ok(Security {
            protocol,
            login,
            ca,
        })
    }

    fn login(&self, protocol: Protocol) -> Result<Login, Error> {
        let mechanism = match self.get("sasl.mechanism") {
            None => {
                return Err(self.bad(
                    "sasl.mechanism",
                    format!(
                        "is not set, and security.protocol={protocol} needs it: SCRAM-SHA-512 \
                         (MSK, most SCRAM clusters), SCRAM-SHA-256 or PLAIN \
                         (REGSYNC_KAFKA_SASL_MECHANISM or -X sasl.mechanism=...)"
                    ),
                ));
            }
            Some(m) => match m.to_ascii_uppercase().as_str() {
                "PLAIN" => Mechanism::Plain,
                "SCRAM-SHA-256" => Mechanism::ScramSha256,
                "SCRAM-SHA-512" => Mechanism::ScramSha512,
                other => Mechanism::Other(other.to_owned()),
            },
        };
        if let Mechanism::Other(_) = mechanism {
            return Ok(Login {
                mechanism,
                username: String::new(),
                password: String::new(),
                origin: Origin::Default,
            });
        }
        let mut found = Vec::new();
        for (key, var) in [
            ("sasl.username", "REGSYNC_KAFKA_SASL_USERNAME"),
            ("sasl.password", "REGSYNC_KAFKA_SASL_PASSWORD"),
        ] {
            match self.last(key) {
                Some(p) if !p.value.is_empty() => found.push(p),
                _ => {
                    return Err(self.bad(
                        key,
                        format!(
                            "is not set, and sasl.mechanism={mechanism} needs it; set {var} \
                             (or -X {key}=..., or a --kafka-config file)"
                        ),
                    ));
                }
            }
        }
        Ok(Login {
            mechanism,
            username: found[0].value.clone(),
            password: found[1].value.clone(),
            origin: found[1].origin.clone(),
        })
    }

    fn check_pem(&self, path: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(path).map_err(|e| {
            self.bad(
                "ssl.ca.location",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let certs = certificates(&bytes);
        if certs.is_empty() {
            return Err(self.bad(
                "ssl.ca.location",
                format!(
                    "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA \
                     bundle as PEM (a Java trust store converts with `keytool -exportcert -rfc`)",
                    path.display()
                ),
            ));
        }
        Ok(())
    }
}

/// A connection the brokers refused: the login, or the TLS handshake.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "rdkafka", feature = "rskafka")), allow(dead_code))]
pub(crate) enum Failure {
    Login(String),
    Tls(String),
}

#[cfg_attr(not(any(feature = "rdkafka", feature = "rskafka")), allow(dead_code))]
impl Settings {
    pub(crate) fn refused(&self, failure: Failure) -> Error {
        match failure {
            Failure::Login(reason) => {
                let login = self.security.login.as_ref();
                Error::Authentication {
                    brokers: self.brokers.clone(),
                    login: login.map_or_else(String::new, |l| {
                        format!("user {:?} ({})", l.username, l.mechanism)
                    }),
                    origin: login.map_or(Origin::Default, |l| l.origin.clone()),
                    reason,
                }
            }
            Failure::Tls(reason) => Error::Tls {
                brokers: self.brokers.clone(),
                ca: self.security.ca.as_ref().map_or_else(
                    || "unset: the system's roots".to_owned(),
                    |p| p.display().to_string(),
                ),
                protocol: self.security.protocol,
                reason,
            },
        }
    }
}

/// The PEM certificates in `bytes`.
fn certificates(bytes: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .collect()
}

/// Reads a properties file: `key=value` (or `key: value`), `#`/`!` comments, a trailing `\`
/// continuing a line.
fn read_file(path: &Path) -> Result<Vec<Property>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.to_owned(),
        why: format!("cannot read it: {e}"),
    })?;
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (line_no, mut line) = match pending.take() {
            Some((n, head)) => (n, head + raw.trim_start()),
            None => (i + 1, raw.trim_start().to_owned()),
        };
        if line.starts_with('#') || line.starts_with('!') || line.trim().is_empty() {
            continue;
        }
        let escapes = line.chars().rev().take_while(|&c| c == '\\').count();
        if escapes % 2 == 1 {
            line.pop();
            pending = Some((line_no, line));
            continue;
        }
        let split = line.find(['=', ':']).ok_or_else(|| Error::File {
            path: path.to_owned(),
            why: format!("line {line_no}: {line:?} is not key=value"),
        })?;
        let key = line[..split].trim();
        if key.is_empty() {
            return Err(Error::File {
                path: path.to_owned(),
                why: format!("line {line_no}: no key before '='"),
            });
        }
        out.push(Property {
            key: key.to_owned(),
            value: line[split + 1..].trim().to_owned(),
            origin: Origin::File(path.to_owned(), line_no),
        });
    }
    if let Some((line_no, _)) = pending {
        return Err(Error::File {
            path: path.to_owned(),
            why: format!("line {line_no}: ends with '\\' but the file ends"),
        });
    }
    Ok(out)
}

/// Java client names turned into librdkafka's: `sasl.mechanisms` is an alias of
/// `sasl.mechanism`; a `sasl.jaas.config` login becomes `sasl.username`/`sasl.password`; a Java
/// trust store is refused with what to do instead.
fn translate(properties: Vec<Property>) -> Result<Vec<Property>, Error> {
    let mut out = Vec::with_capacity(properties.len());
    for p in properties {
        match p.key.as_str() {
            "sasl.mechanisms" => out.push(Property {
                key: "sasl.mechanism".into(),
                ..p
            }),
            "sasl.jaas.config" => {
                for (field, key) in [("username", "sasl.username"), ("password", "sasl.password")] {
                    let value = jaas_option(&p.value, field).ok_or_else(|| Error::Setting {
                        key: p.key.clone(),
                        origin: p.origin.clone(),
                        why: format!(
                            "has no {field}=\"...\" option; write the login as sasl.username and \
                             sasl.password instead"
                        ),
                    })?;
                    out.push(Property {
                        key: key.into(),
                        value,
                        origin: p.origin.clone(),
                    });
                }
            }
            "ssl.truststore.location" | "ssl.truststore.password" | "ssl.truststore.type" => {
                return Err(Error::Setting {
                    key: p.key.clone(),
                    origin: p.origin,
                    why: "is a Java trust store setting; regsync reads the CA bundle as PEM: \
                          export it (`keytool -exportcert -rfc -keystore FILE -alias ALIAS`) \
                          and set ssl.ca.location, or leave it out to trust the system's roots \
                          (enough for MSK)"
                        .into(),
                });
            }
            _ => out.push(p),
        }
    }
    Ok(out)
}

/// `field="value"` in a JAAS login line.
fn jaas_option(text: &str, field: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find(field) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + field.len()..].trim_start();
        rest = &rest[at + field.len()..];
        if before.is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start().strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return Some(out),
                c => out.push(c),
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests;
