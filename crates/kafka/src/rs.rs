//! rskafka clients (the Lambda function's dead-letter writer, pure Rust so the arm64 build
//! links no C): TLS with the `ssl.ca.location` bundle or the system's roots, SASL PLAIN and
//! SCRAM, and [`connect`], which reports a refused login or TLS failure on the first attempt.

use std::sync::Arc;
use std::time::Duration;

pub use rskafka;
use rskafka::BackoffConfig;
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};

use crate::{Error, Failure, Mechanism, Settings};

/// The properties this client understands; any other is refused by name rather than ignored.
const UNDERSTOOD: [&str; 6] = [
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "client.id",
];

impl Settings {
    /// A client builder with the brokers, the client id and the security settings; `deadline`
    /// bounds every retried request of the client.
    pub fn rskafka_builder(
        &self,
        client_id: &str,
        deadline: Duration,
    ) -> Result<ClientBuilder, Error> {
        if let Some(p) = self
            .passthrough()
            .find(|p| !UNDERSTOOD.contains(&p.key.as_str()))
        {
            return Err(self.bad(
                &p.key,
                format!(
                    "is not a setting of the Lambda function's Kafka client (rskafka), which reads \
                     only {}",
                    UNDERSTOOD.join(", ")
                ),
            ));
        }
        let brokers = self
            .brokers
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
            .collect();
        let mut builder = ClientBuilder::new(brokers)
            .client_id(self.get("client.id").unwrap_or(client_id))
            .backoff_config(BackoffConfig {
                deadline: Some(deadline),
                ..BackoffConfig::default()
            });
        if self.security.protocol.tls() {
            builder = builder.tls_config(Arc::new(self.rustls()?));
        }
        if let Some(login) = &self.security.login {
            let credentials = Credentials::new(login.username.clone(), login.password.clone());
            builder = builder.sasl_config(match &login.mechanism {
                Mechanism::Plain => SaslConfig::Plain(credentials),
                Mechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                Mechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
                Mechanism::Other(m) => {
                    return Err(self.bad(
                        "sasl.mechanism",
                        format!(
                            "{m} is not supported by the Lambda function's Kafka client; use \
                             SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
                        ),
                    ));
                }
            });
        }
        Ok(builder)
    }

    fn rustls(&self) -> Result<rustls::ClientConfig, Error> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.security.ca {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    self.bad(
                        "ssl.ca.location",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                for cert in crate::certificates(&bytes) {
                    roots.add(cert).map_err(|e| {
                        self.bad(
                            "ssl.ca.location",
                            format!("{} holds a certificate rustls refuses: {e}", path.display()),
                        )
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(self.bad(
                        "ssl.ca.location",
                        "is unset and the system has no CA certificates; set it to the CA bundle \
                         (PEM) that signed the brokers' certificates",
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Client {
                brokers: self.brokers.clone(),
                reason: format!("TLS setup: {e}"),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// Connects, retrying until `deadline`, except that a refused login or a failed TLS handshake
/// on the first attempt returns at once, with an error naming the settings.
pub async fn connect(
    settings: &Settings,
    client_id: &str,
    deadline: Duration,
) -> Result<Client, Error> {
    // One attempt first (a zero deadline means no retry): a wrong password is final.
    let first = settings
        .rskafka_builder(client_id, Duration::ZERO)?
        .build()
        .await;
    if let Err(e) = &first
        && let Some(refused) = settings.classify(&e.to_string())
    {
        return Err(refused);
    }
    // The client keeps its backoff for every later request, so it is built again with the
    // real deadline (a second handshake, only on the dead-letter path).
    let built = settings.rskafka_builder(client_id, deadline)?.build().await;
    built.map_err(|e| {
        let reason = e.to_string();
        settings
            .classify(&reason)
            .unwrap_or_else(|| Error::Unreachable {
                brokers: settings.brokers.clone(),
                protocol: settings.security.protocol,
                secs: deadline.as_secs(),
                reason,
            })
    })
}

impl Settings {
    /// A refused login or TLS failure, told from rskafka's error text (it has no error kinds
    /// for them).
    fn classify(&self, reason: &str) -> Option<Error> {
        let lower = reason.to_ascii_lowercase();
        let failure = if lower.contains("sasl") || lower.contains("authentication") {
            Failure::Login(reason.to_owned())
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            Failure::Tls(reason.to_owned())
        } else {
            return None;
        };
        Some(self.refused(failure))
    }
}
