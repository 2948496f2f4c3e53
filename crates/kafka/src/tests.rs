use std::io::Write as _;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn flags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

/// A self-signed certificate, as PEM (generated once with openssl for these tests).
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUPgcc3l6bYrsvRyKdny6bDAkcJh0wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPcmVnc3luYyB0ZXN0IENBMB4XDTI2MTIwNzEzMjYxOVoXDTM2
MTIwNDEzMjYxOVowGjEYMBYGA1UEAwwPcmVnc3luYyB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAER25prkQWbYw6oy50Q6DR2dq3/SwBBSv3i9xccjuC
tx6OzNYPcChUHYDlei7/B0Di6H6JlDBjTMkTfQcduJRpf6NTMFEwHQYDVR0OBBYE
FE/u2IEQ0geEz8yKIcWDq+7g0VFoMB8GA1UdIwQYMBaAFE/u2IEQ0geEz8yKIcWD
q+7g0VFoMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAK+eonGd
Y9nWJeRQt40tsblPd926qtON/SawsfZb5FrpAiB5KvnEKZ/u14Xv14W7UQh8BSqW
epi8BIUund94N8C/VQ==
-----END CERTIFICATE-----
";

#[test]
fn plaintext_by_default() {
    let s = Settings::resolve("b:9092", None, &[], no_env).unwrap();
    assert_eq!(s.security().protocol, Protocol::Plaintext);
    assert!(s.security().login.is_none());
}

#[test]
fn a_java_client_properties_file_gives_the_login() {
    let f = file(
        "# MSK SCRAM, as the Java client writes it\n\
         security.protocol=SASL_SSL\n\
         sasl.mechanism = SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n\
         \x20   username=\"alice\" password=\"p\\\"w=;d\";\n",
    );
    let s = Settings::resolve("b:9096", Some(f.path()), &[], no_env).unwrap();
    let login = s.security().login.clone().unwrap();
    assert_eq!(login.mechanism, Mechanism::ScramSha512);
    assert_eq!(login.username, "alice");
    assert_eq!(login.password, "p\"w=;d");
    assert_eq!(login.origin, Origin::File(f.path().to_owned(), 4));
    assert_eq!(s.get("sasl.jaas.config"), None, "not passed to librdkafka");
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let f = file(
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=file\nsasl.password=file\n",
    );
    let env = |name: &str| (name == "REGSYNC_KAFKA_SASL_USERNAME").then(|| "env".to_owned());
    let s = Settings::resolve("b", Some(f.path()), &[], env).unwrap();
    assert_eq!(s.security().login.as_ref().unwrap().username, "env");
    let s = Settings::resolve(
        "b",
        Some(f.path()),
        &flags(&[("sasl.username", "flag")]),
        env,
    )
    .unwrap();
    assert_eq!(s.security().login.as_ref().unwrap().username, "flag");
    assert_eq!(
        s.passthrough().filter(|p| p.key == "sasl.username").count(),
        1
    );
}

#[test]
fn a_missing_password_names_the_setting_and_the_variable() {
    let env = |name: &str| match name {
        "REGSYNC_KAFKA_SECURITY_PROTOCOL" => Some("sasl_ssl".to_owned()),
        "REGSYNC_KAFKA_SASL_MECHANISM" => Some("SCRAM-SHA-512".to_owned()),
        "REGSYNC_KAFKA_SASL_USERNAME" => Some("u".to_owned()),
        _ => None,
    };
    let e = Settings::resolve("b", None, &[], env)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("sasl.password (default): is not set"), "{e}");
    assert!(e.contains("REGSYNC_KAFKA_SASL_PASSWORD"), "{e}");
}

#[test]
fn a_sasl_protocol_without_a_mechanism_is_refused() {
    let e = Settings::resolve(
        "b",
        None,
        &flags(&[("security.protocol", "SASL_SSL")]),
        no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("sasl.mechanism (default): is not set"), "{e}");
}

#[test]
fn an_unknown_protocol_names_its_value_and_origin() {
    let e = Settings::resolve("b", None, &flags(&[("security.protocol", "TLS")]), no_env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("security.protocol (from -X): \"TLS\" is not one of"),
        "{e}"
    );
}

#[test]
fn a_login_without_a_sasl_protocol_is_refused() {
    let e = Settings::resolve(
        "b",
        None,
        &flags(&[("sasl.username", "u"), ("sasl.password", "p")]),
        no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("sasl.username (from -X): is set, but security.protocol is PLAINTEXT"),
        "{e}"
    );
}

#[test]
fn the_ca_must_be_a_pem_file() {
    let not_pem = file("not a certificate\n");
    let path = not_pem.path().to_str().unwrap();
    let e = Settings::resolve(
        "b",
        None,
        &flags(&[("security.protocol", "SSL"), ("ssl.ca.location", path)]),
        no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
    let e = Settings::resolve(
        "b",
        None,
        &flags(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/nonexistent/ca.pem"),
        ]),
        no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("ssl.ca.location (from -X): cannot read /nonexistent/ca.pem"),
        "{e}"
    );
    let pem = file(CA_PEM);
    let s = Settings::resolve(
        "b",
        None,
        &flags(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", pem.path().to_str().unwrap()),
        ]),
        no_env,
    )
    .unwrap();
    assert_eq!(s.security().ca.as_deref(), Some(pem.path()));
}

#[test]
fn a_ca_without_tls_is_refused() {
    let pem = file(CA_PEM);
    let e = Settings::resolve(
        "b",
        None,
        &flags(&[("ssl.ca.location", pem.path().to_str().unwrap())]),
        no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("is set, but security.protocol is PLAINTEXT, which is not TLS"),
        "{e}"
    );
}

#[test]
fn a_java_trust_store_is_refused_with_what_to_do() {
    let f =
        file("security.protocol=SSL\nssl.truststore.location=/tmp/kafka.client.truststore.jks\n");
    let e = Settings::resolve("b", Some(f.path()), &[], no_env)
        .unwrap_err()
        .to_string();
    assert!(e.contains(":2): is a Java trust store setting"), "{e}");
    assert!(e.starts_with("ssl.truststore.location (in "), "{e}");
    assert!(e.contains("keytool -exportcert -rfc"), "{e}");
}

#[test]
fn a_bad_file_line_is_named() {
    let f = file("security.protocol=SSL\njust words\n");
    let e = Settings::resolve("b", Some(f.path()), &[], no_env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2: \"just words\" is not key=value"), "{e}");
    let e = Settings::resolve("b", Some(Path::new("/nonexistent.properties")), &[], no_env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--kafka-config /nonexistent.properties: cannot read it"),
        "{e}"
    );
}

#[test]
fn debug_never_shows_the_password() {
    let s = Settings::resolve(
        "b",
        None,
        &flags(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "hunter2"),
        ]),
        no_env,
    )
    .unwrap();
    let shown = format!("{s:?} {:?}", s.security());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[cfg(feature = "rdkafka")]
#[test]
fn role_defaults_are_overridden_by_the_user() {
    use crate::rd::Role;
    let s = Settings::resolve("b:1", None, &flags(&[("acks", "1")]), no_env).unwrap();
    let c = s.client_config(Role::Producer { linger: None });
    assert_eq!(c.get("acks"), Some("1"));
    assert_eq!(c.get("enable.idempotence"), Some("true"));
    assert_eq!(c.get("bootstrap.servers"), Some("b:1"));
    let c = s.client_config(Role::GroupConsumer {
        group: "g",
        session_timeout: std::time::Duration::from_secs(6),
        statistics: None,
    });
    assert_eq!(c.get("group.id"), Some("g"));
    assert_eq!(c.get("session.timeout.ms"), Some("6000"));
    assert_eq!(c.get("enable.auto.commit"), Some("false"));
}

#[cfg(feature = "rskafka")]
#[test]
fn the_lambda_client_refuses_a_property_it_would_ignore() {
    let s = Settings::resolve("b:1", None, &flags(&[("linger.ms", "5")]), no_env).unwrap();
    let e = s
        .rskafka_builder("id", std::time::Duration::from_secs(1))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with(
            "linger.ms (from -X): is not a setting of the Lambda function's Kafka client"
        ),
        "{e}"
    );
}

#[test]
fn a_login_from_a_secret_is_named_as_such_and_an_explicit_variable_wins() {
    let env = |name: &str| match name {
        "REGSYNC_KAFKA_SECURITY_PROTOCOL" => Some("SASL_SSL".to_owned()),
        "REGSYNC_KAFKA_SASL_MECHANISM" => Some("SCRAM-SHA-512".to_owned()),
        _ => None,
    };
    let from = "REGSYNC_KAFKA_SASL_SECRET_ARN";
    let c = Config::with_env(None, Vec::new(), env).with_login("u".into(), "s3cr3t".into(), from);
    let login = c.settings("b").unwrap().security().login.clone().unwrap();
    assert_eq!(
        (login.username.as_str(), login.password.as_str()),
        ("u", "s3cr3t")
    );
    assert_eq!(
        login.origin.to_string(),
        "from the secret REGSYNC_KAFKA_SASL_SECRET_ARN names"
    );
    assert!(!format!("{c:?}").contains("s3cr3t"), "{c:?}");
    let env2 = |name: &str| match name {
        "REGSYNC_KAFKA_SASL_PASSWORD" => Some("explicit".to_owned()),
        other => env(other),
    };
    let c = Config::with_env(None, Vec::new(), env2).with_login("u".into(), "s3cr3t".into(), from);
    let login = c.settings("b").unwrap().security().login.clone().unwrap();
    assert_eq!(login.password, "explicit");
}
