//! Dubbo URLs as providers register them: parsing the decoded form (`dubbo://host:port/path?k=v`),
//! the percent-encoded ZooKeeper child name, and printing both back.
//!
//! Parsing follows Dubbo's own `URLStrParser.parseDecodedStr` (3.x, also used by 2.7.x's
//! `ZookeeperRegistry`):
//!
//! - the body ends at the first `?`; anything after a `#` in the body is ignored;
//! - the protocol is everything before the first `://` (required here; Dubbo also takes `file:/x`);
//! - the path is everything after the first `/` of the rest, the authority everything before it;
//! - user info ends at the last `@` of the authority and splits at its first `:`;
//! - the port follows the last `:` of the authority, unless a `%` (IPv6 zone id) comes after
//!   that `:`. `[v6]:port` is also accepted and the host is kept without brackets;
//! - parameters are separated by `&` or `;`; leading `=` of a parameter are dropped, a parameter
//!   without `=` (or with nothing after it) has the value `""` (Dubbo 2.7's `URL.valueOf` used
//!   the key itself as the value, 3.x uses `""`); a later duplicate key wins;
//! - a `default.<key>` parameter also sets `<key>` unless that key is set explicitly, as Dubbo
//!   does "to stay compatible with lower versions registering `default.` keys";
//! - parameter values are **not** percent-decoded again: Dubbo decodes the znode name exactly
//!   once (`URL.decode`, or component-wise in `parseEncodedStr`, which comes to the same) and
//!   never decodes values after splitting. A value that holds `&` or `;` therefore cannot be
//!   registered by Dubbo at all; a `%` in a value survives the round trip as is.
//!
//! Printing follows `URL.toFullString`: parameters sorted by key, empty keys skipped, values
//! trimmed (Java's `String.trim`), host and port only when present.

use std::collections::BTreeMap;
use std::fmt;

use regsync_model::error::shorten;
use regsync_model::{Error, Result};

/// The prefix Dubbo uses for defaults that also apply to the bare key.
const DEFAULT_KEY_PREFIX: &str = "default.";

/// One Dubbo URL: a provider, consumer, `override://` configurator or `empty://` marker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DubboUrl {
    /// Scheme before `://`: `dubbo`, `tri`, `override`, `empty`, `consumer`, ...
    pub protocol: String,
    /// User name from `user[:password]@`; never `Some("")`.
    pub username: Option<String>,
    /// Password from `user:password@`; never `Some("")`.
    pub password: Option<String>,
    /// Host name or address; IPv6 addresses without brackets. Never empty.
    pub host: String,
    /// Port, 0 when the URL has none.
    pub port: u16,
    /// Everything between the authority and `?`, without the leading `/`; usually the interface.
    pub path: String,
    /// Query parameters, as Dubbo reads them (see the module docs).
    pub params: BTreeMap<String, String>,
}

impl DubboUrl {
    /// Parses a decoded Dubbo URL such as
    /// `dubbo://172.18.0.9:20880/org.apache.dubbo.samples.basic.api.DemoService?anyhost=true`.
    ///
    /// Fails, naming the field and the input, when the protocol is missing, the host is empty,
    /// the port is not a number in `0..=65535` or an IPv6 host is not written in brackets.
    pub fn parse(s: &str) -> Result<DubboUrl> {
        let (body, query) = match s.find('?') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let body = body.find('#').map_or(body, |i| &body[..i]);

        let (protocol, rest) = match body.find("://") {
            Some(i) if i > 0 => (&body[..i], &body[i + 3..]),
            _ => {
                return Err(url_error(
                    "protocol",
                    "a Dubbo URL starts with `<protocol>://`",
                    s,
                    s,
                ));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(info) => match info.find(':') {
                Some(i) => (non_empty(&info[..i]), non_empty(&info[i + 1..])),
                None => (non_empty(info), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport, s)?;
        if host.is_empty() {
            return Err(url_error("host", "the host is empty", hostport, s));
        }

        Ok(DubboUrl {
            protocol: protocol.to_owned(),
            username,
            password,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            params: query.map(parse_params).unwrap_or_default(),
        })
    }

    /// Parses a ZooKeeper child name under `<root>/<interface>/{providers,configurators,...}`:
    /// the whole URL encoded once with Java's `URLEncoder` (`URL.encode(url.toFullString())`).
    ///
    /// The name is decoded once as a form component (`%XX` as UTF-8 bytes, `+` as a space), then
    /// parsed with [`DubboUrl::parse`]. An incomplete or non-hex `%` escape, or bytes that are not
    /// UTF-8, are errors (Java's `URLDecoder` rejects the former too).
    pub fn from_znode(name: &str) -> Result<DubboUrl> {
        DubboUrl::parse(&decode_component(name)?)
    }

    /// Prints the URL the way Dubbo's `URL.toFullString` does: parameters sorted by key, empty
    /// keys left out, values trimmed. IPv6 hosts are put in brackets.
    pub fn to_url_string(&self) -> String {
        let mut out = String::with_capacity(64 + self.path.len() + 32 * self.params.len());
        out.push_str(&self.protocol);
        out.push_str("://");
        if self.username.is_some() || self.password.is_some() {
            out.push_str(self.username.as_deref().unwrap_or(""));
            if let Some(password) = &self.password {
                out.push(':');
                out.push_str(password);
            }
            out.push('@');
        }
        out.push_str(&self.address());
        if !self.path.is_empty() {
            out.push('/');
            out.push_str(&self.path);
        }
        let mut first = true;
        for (key, value) in self.params.iter().filter(|(k, _)| !k.is_empty()) {
            out.push(if first { '?' } else { '&' });
            first = false;
            out.push_str(key);
            out.push('=');
            out.push_str(java_trim(value));
        }
        out
    }

    /// The ZooKeeper child name Dubbo registers for this URL: [`DubboUrl::to_url_string`]
    /// encoded once like Java's `URLEncoder` (`URL.encode`).
    pub fn to_znode(&self) -> String {
        encode_component(&self.to_url_string())
    }

    /// `host:port` (`[v6]:port` for IPv6), or the host alone when the port is 0, like Dubbo's
    /// `URL.getAddress`.
    pub fn address(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 0 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for DubboUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url_string())
    }
}

impl std::str::FromStr for DubboUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DubboUrl::parse(s)
    }
}

/// Splits `host[:port]`, `[v6][:port]` or an unbracketed IPv6 address with a zone id.
fn split_host_port<'a>(hostport: &'a str, input: &str) -> Result<(&'a str, u16)> {
    if let Some(inner) = hostport.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Err(url_error(
                "host",
                "an IPv6 host opened with `[` is never closed with `]`",
                hostport,
                input,
            ));
        };
        let port = match &inner[end + 1..] {
            "" => 0,
            after => match after.strip_prefix(':') {
                Some(port) => parse_port(port, input)?,
                None => {
                    return Err(url_error(
                        "host",
                        "only `:<port>` may follow a bracketed IPv6 host",
                        hostport,
                        input,
                    ));
                }
            },
        };
        let host = &inner[..end];
        if host.contains('[') {
            return Err(url_error(
                "host",
                "a host must not contain `[`",
                hostport,
                input,
            ));
        }
        return Ok((host, port));
    }
    let Some(colon) = hostport.rfind(':') else {
        return Ok((hostport, 0));
    };
    if hostport[colon..].contains('%') {
        // Dubbo: a `%` after the last `:` is an IPv6 zone id (`fe80::1%en0`), not a port.
        if hostport.contains(['[', ']']) {
            return Err(url_error(
                "host",
                "an IPv6 host with brackets inside it",
                hostport,
                input,
            ));
        }
        return Ok((hostport, 0));
    }
    let host = &hostport[..colon];
    if host.contains(':') {
        return Err(url_error(
            "host",
            "an IPv6 host must be written in brackets (`[fd00::1]:20880`)",
            hostport,
            input,
        ));
    }
    Ok((host, parse_port(&hostport[colon + 1..], input)?))
}

fn parse_port(port: &str, input: &str) -> Result<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(url_error(
            "port",
            "expected a number in 0..=65535",
            port,
            input,
        ));
    }
    port.parse::<u16>()
        .map_err(|_| url_error("port", "expected a number in 0..=65535", port, input))
}

/// Splits a query the way Dubbo's `URLStrParser.parseDecodedParams` does.
fn parse_params(query: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for part in query.split(['&', ';']) {
        let part = part.trim_start_matches('=');
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        params.insert(name.to_owned(), value.to_owned());
    }
    fill_in_default_keys(&mut params);
    params
}

/// `default.<key>=v` also sets `<key>` where that is not set explicitly. Dubbo strips one
/// `default.` per parameter while parsing; stripping until nothing changes agrees with it on
/// every real URL and keeps parse → print → parse stable for `default.default.<key>` too.
fn fill_in_default_keys(params: &mut BTreeMap<String, String>) {
    loop {
        let missing: Vec<(String, String)> = params
            .iter()
            .filter_map(|(name, value)| {
                let bare = name.strip_prefix(DEFAULT_KEY_PREFIX)?;
                (!bare.is_empty() && !params.contains_key(bare))
                    .then(|| (bare.to_owned(), value.clone()))
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        params.extend(missing);
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Java's `String.trim`: strips every char up to and including U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// An [`Error::Invalid`] naming `field`, the offending value and the whole input.
fn url_error(field: &str, message: &str, got: &str, input: &str) -> Error {
    let message = if got == input {
        message.to_owned()
    } else {
        format!("{message}, in `{}`", shorten(input, 200))
    };
    Error::invalid(field, "", message, got)
}

/// Decodes `s` like Java's `URLDecoder.decode(s, "UTF-8")`: `+` is a space, `%XX` a byte, and
/// the bytes must be UTF-8. Malformed escapes are errors rather than guesses.
pub fn decode_component(s: &str) -> Result<String> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(hi), Some(lo)) => {
                        // Both digits are < 16, so the byte never overflows.
                        out.push((hi * 16 + lo) as u8);
                        i += 3;
                    }
                    _ => {
                        let escape: String = s[i..].chars().take(3).collect();
                        return Err(syntax_error(format!(
                            "`%` at byte {i} is not followed by two hex digits (`{escape}`) in `{}`",
                            shorten(s, 200)
                        )));
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        syntax_error(format!(
            "percent escapes decode to bytes that are not UTF-8 (at decoded byte {}) in `{}`",
            e.utf8_error().valid_up_to(),
            shorten(s, 200)
        ))
    })
}

/// Encodes `s` like Java's `URLEncoder.encode(s, "UTF-8")`: ASCII letters, digits and `.-*_`
/// stay, a space becomes `+`, every other byte `%XX` (upper-case hex).
pub fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0x0f)] as char);
            }
        }
    }
    out
}

fn syntax_error(message: String) -> Error {
    Error::Syntax {
        format: "URL",
        position: regsync_model::error::Position::at(""),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> DubboUrl {
        DubboUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_plain_provider_url_splits_into_its_parts() {
        let u = url("dubbo://10.0.0.1:20880/com.example.Foo?b=2&a=1");
        assert_eq!(u.protocol, "dubbo");
        assert_eq!(u.host, "10.0.0.1");
        assert_eq!(u.port, 20880);
        assert_eq!(u.path, "com.example.Foo");
        assert_eq!(u.username, None);
        assert_eq!(u.params.len(), 2);
        assert_eq!(
            u.to_url_string(),
            "dubbo://10.0.0.1:20880/com.example.Foo?a=1&b=2"
        );
    }

    #[test]
    fn a_bracketed_ipv6_host_loses_its_brackets_and_gets_them_back_when_printed() {
        let u = url("dubbo://[fd00::1]:20880/com.example.Foo");
        assert_eq!(u.host, "fd00::1");
        assert_eq!(u.port, 20880);
        assert_eq!(u.address(), "[fd00::1]:20880");
        assert_eq!(u.to_url_string(), "dubbo://[fd00::1]:20880/com.example.Foo");
        let no_port = url("dubbo://[fd00::1]/com.example.Foo");
        assert_eq!((no_port.host.as_str(), no_port.port), ("fd00::1", 0));
    }

    #[test]
    fn an_ipv6_zone_id_after_the_last_colon_is_not_a_port() {
        let u = url("dubbo://fe80::1%en0/com.example.Foo");
        assert_eq!((u.host.as_str(), u.port), ("fe80::1%en0", 0));
        assert_eq!(url(&u.to_url_string()), u);
    }

    #[test]
    fn stray_brackets_in_a_host_are_rejected_so_printing_stays_parseable() {
        for input in ["dubbo://[[x]/p", "dubbo://a]:b%/p", "dubbo://a[:b%/p"] {
            let err = DubboUrl::parse(input).unwrap_err();
            assert!(err.to_string().contains("`host`"), "{input}: {err}");
        }
        assert_eq!(url("dubbo://b]:1/p").host, "b]");
    }

    #[test]
    fn an_unbracketed_ipv6_host_is_rejected_rather_than_guessed() {
        let err = DubboUrl::parse("dubbo://fd00::1:20880/x").unwrap_err();
        assert!(err.to_string().contains("`host`"), "{err}");
    }

    #[test]
    fn user_info_ends_at_the_last_at_sign_and_splits_at_the_first_colon() {
        let u = url("zookeeper://admin:p:w@d@zk.local:2181/x");
        assert_eq!(u.username.as_deref(), Some("admin"));
        assert_eq!(u.password.as_deref(), Some("p:w@d"));
        assert_eq!(u.host, "zk.local");
        assert_eq!(url(&u.to_url_string()), u);
    }

    #[test]
    fn a_parameter_without_a_value_is_empty_as_in_dubbo_3() {
        let u = url("dubbo://h/p?flag&x=&=y&&z==w;semi=1");
        assert_eq!(u.params.get("flag").map(String::as_str), Some(""));
        assert_eq!(u.params.get("x").map(String::as_str), Some(""));
        assert_eq!(u.params.get("y").map(String::as_str), Some(""));
        assert_eq!(u.params.get("z").map(String::as_str), Some("=w"));
        assert_eq!(u.params.get("semi").map(String::as_str), Some("1"));
        assert_eq!(u.params.len(), 5);
    }

    #[test]
    fn a_default_prefixed_parameter_fills_in_the_bare_key_unless_it_is_set() {
        let u = url("dubbo://h/p?default.timeout=5&timeout=3&default.retries=2");
        assert_eq!(u.params.get("timeout").map(String::as_str), Some("3"));
        assert_eq!(u.params.get("retries").map(String::as_str), Some("2"));
        let u = url("dubbo://h/p?timeout=3&default.timeout=5");
        assert_eq!(u.params.get("timeout").map(String::as_str), Some("3"));
        let u = url("dubbo://h/p?default.default.lazy=1");
        assert_eq!(u.params.get("default.lazy").map(String::as_str), Some("1"));
        assert_eq!(u.params.get("lazy").map(String::as_str), Some("1"));
        assert_eq!(url(&u.to_url_string()), u);
    }

    #[test]
    fn parameter_values_are_not_decoded_a_second_time() {
        let u = url("dubbo://h/p?refer=a%3Db&pct=100%");
        assert_eq!(u.params.get("refer").map(String::as_str), Some("a%3Db"));
        assert_eq!(u.params.get("pct").map(String::as_str), Some("100%"));
        let back = DubboUrl::from_znode(&u.to_znode()).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn an_ampersand_in_a_value_splits_it_as_dubbo_does() {
        let u = url("dubbo://h/p?a=x&y");
        assert_eq!(u.params.get("a").map(String::as_str), Some("x"));
        assert_eq!(u.params.get("y").map(String::as_str), Some(""));
    }

    #[test]
    fn a_fragment_in_the_body_is_ignored() {
        let u = url("dubbo://h:1/p#frag?x=1");
        assert_eq!(u.path, "p");
        assert_eq!(u.params.get("x").map(String::as_str), Some("1"));
    }

    #[test]
    fn printing_trims_values_and_skips_empty_keys_like_to_full_string() {
        let mut u = url("dubbo://h/p");
        u.params.insert(String::new(), "dropped".into());
        u.params.insert("k".into(), " v \t".into());
        assert_eq!(u.to_url_string(), "dubbo://h/p?k=v");
    }

    #[test]
    fn a_missing_protocol_is_an_error_naming_protocol_and_the_input() {
        for input in ["", "10.0.0.1:20880/x", "://h/x", "dubbo:/h"] {
            let err = DubboUrl::parse(input).unwrap_err();
            assert_eq!(err.kind(), "invalid_field", "{input}");
            assert!(err.to_string().contains("`protocol`"), "{err}");
            assert!(err.to_string().contains(input), "{err}");
        }
    }

    #[test]
    fn a_bad_port_is_an_error_naming_port_its_value_and_the_input() {
        for port in ["70000", "x1", "", "-1", "+80"] {
            let input = format!("dubbo://h:{port}/p");
            let err = DubboUrl::parse(&input).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("`port`"), "{text}");
            if !port.is_empty() {
                assert!(text.contains(&format!("(got {port})")), "{text}");
            }
            assert!(text.contains(&input), "{text}");
        }
    }

    #[test]
    fn an_empty_host_is_an_error_naming_host() {
        for input in [
            "dubbo:///p",
            "dubbo://:20880/p",
            "dubbo://user@/p",
            "dubbo://[]:1/p",
        ] {
            let err = DubboUrl::parse(input).unwrap_err();
            assert!(err.to_string().contains("`host`"), "{input}: {err}");
        }
    }

    #[test]
    fn a_zero_port_and_a_missing_port_are_the_same() {
        assert_eq!(url("dubbo://h:0/p"), url("dubbo://h/p"));
    }

    #[test]
    fn znode_decoding_treats_plus_as_a_space_like_urldecoder() {
        let u = DubboUrl::from_znode("dubbo%3A%2F%2Fh%2Fp%3Fk%3Da+b%2Bc").unwrap();
        assert_eq!(u.params.get("k").map(String::as_str), Some("a b+c"));
        assert_eq!(u.to_znode(), "dubbo%3A%2F%2Fh%2Fp%3Fk%3Da+b%2Bc");
    }

    #[test]
    fn znode_decoding_accepts_lower_case_hex() {
        let u = DubboUrl::from_znode("dubbo%3a%2f%2fh%3a1%2fp").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("h", 1, "p"));
    }

    #[test]
    fn a_broken_percent_escape_in_a_znode_is_a_url_syntax_error() {
        for name in [
            "dubbo%3A%2F%2Fh%2",
            "dubbo%3A%2F%2Fh%zz",
            "dubbo%3A%2F%2Fh%",
            "%FF",
        ] {
            let err = DubboUrl::from_znode(name).unwrap_err();
            assert_eq!(err.kind(), "syntax", "{name}: {err}");
            assert!(err.to_string().contains("malformed URL"), "{err}");
        }
    }

    #[test]
    fn encoding_matches_java_urlencoder() {
        assert_eq!(
            encode_component("aZ09.-*_ ~/:?&=,%中"),
            "aZ09.-*_+%7E%2F%3A%3F%26%3D%2C%25%E4%B8%AD"
        );
        assert_eq!(
            decode_component("aZ09.-*_+%7E%2F%3A%3F%26%3D%2C%25%E4%B8%AD").unwrap(),
            "aZ09.-*_ ~/:?&=,%中"
        );
    }
}
