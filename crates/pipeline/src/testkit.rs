//! The webhook contract as a table of cases, so the Lambda handler and the HTTP server are held
//! to exactly the same statuses, fields and store effects. Cases run in order against one empty
//! store (the second case is a redelivery of the first).

use regsync_model::RegistryEvent;
use regsync_store::Store;
use serde_json::Value;

use crate::webhook::{
    BATCH_CONTENT_TYPE, Request, SIGNATURE_HEADER, SOURCE_VERSION_HEADER, TIMESTAMP_HEADER,
    TYPE_HEADER, sign_request,
};

/// The secret the cases sign with.
pub const SECRET: &[u8] = b"regsync-test-secret";
/// The body limit the cases assume.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A Eureka instance event (CloudEvent, structured).
pub const EUREKA_ADDED: &str =
    include_str!("../../../events/recordings/eureka-events/instance-lifecycle/001-added.json");
/// Dubbo providers: two, then one, then none.
pub const DUBBO_TWO: &str = include_str!(
    "../../../events/recordings/dubbo-zk/scale-down/001-providers-DemoService-two-providers.json"
);
/// See [`DUBBO_TWO`].
pub const DUBBO_ONE: &str = include_str!(
    "../../../events/recordings/dubbo-zk/scale-down/002-providers-DemoService-one-removed.json"
);
/// A raw Eureka application document (`GET /eureka/apps/{APP}`).
pub const EUREKA_RAW_APP: &str =
    include_str!("../../../events/recordings/eureka/single-app/001-application.json");

/// A raw Eureka registry document in XML, as a Eureka 1.x (Karyon) server serves it.
pub const EUREKA_RAW_XML_APPS: &str =
    include_str!("../../../events/recordings/eureka/karyon-xml/001-apps-one-app.xml");

/// One request and what the contract says about it.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the case shows, as a sentence.
    pub name: &'static str,
    /// The request.
    pub request: Request,
    /// The documented status.
    pub status: u16,
    /// The field the error must name (`field` in the body).
    pub field: Option<&'static str>,
    /// Whether the store must have a new generation afterwards.
    pub writes: bool,
}

/// The path every case is sent to.
pub const PATH: &str = "/events";

/// A POST of `body`, signed (v2) for `now`.
fn post(content_type: &str, body: Vec<u8>, now: u64) -> Request {
    let mut req = Request {
        method: "POST".into(),
        path: PATH.into(),
        headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
        body,
    };
    sign_request(SECRET, now, &mut req);
    req
}

/// Sets header `name`, replacing it, and signs the request again: the header is the sender's.
fn set(req: &mut Request, name: &str, value: &str, now: u64) {
    tamper(req, name, value);
    sign_request(SECRET, now, req);
}

/// Sets header `name` after signing, as someone holding a captured request would.
fn tamper(req: &mut Request, name: &str, value: &str) {
    req.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    req.headers.push((name.to_owned(), value.to_owned()));
}

fn event(text: &str) -> RegistryEvent {
    RegistryEvent::from_slice(text.as_bytes(), usize::MAX).expect("recorded events are valid")
}

/// Every case, signed for Unix time `now`.
pub fn cases(now: u64) -> Vec<Case> {
    let structured = "application/cloudevents+json";
    let added = EUREKA_ADDED.as_bytes().to_vec();
    let mut out = vec![
        Case {
            name: "a signed structured event is accepted and published",
            request: post(structured, added.clone(), now),
            status: 202,
            field: None,
            writes: true,
        },
        Case {
            name: "the same request again is accepted and changes nothing",
            request: post(structured, added.clone(), now),
            status: 202,
            field: None,
            writes: false,
        },
    ];
    // Binary mode: attributes in ce- headers, data as the body.
    let two = event(DUBBO_TWO);
    let body = two.data.to_value().to_string().into_bytes();
    let mut binary = post(&two.data_content_type, body, now);
    for (attr, value) in two.binary_headers() {
        binary.headers.push((format!("ce-{attr}"), value));
    }
    sign_request(SECRET, now, &mut binary);
    out.push(Case {
        name: "a signed binary-mode event is accepted and published",
        request: binary,
        status: 202,
        field: None,
        writes: true,
    });
    let mut raw = post("application/json", EUREKA_RAW_APP.as_bytes().to_vec(), now);
    set(
        &mut raw,
        TYPE_HEADER,
        "io.regsync.eureka.application.v1",
        now,
    );
    // Each header that decides what a captured request means, changed inside its window.
    let binary_request = out[2].request.clone();
    let tampered: [(&'static str, &Request, &str, &str); 7] = [
        (
            "a captured raw request with a raised X-Regsync-Source-Version is refused",
            &raw,
            SOURCE_VERSION_HEADER,
            "18446744073709551615",
        ),
        (
            "a captured raw request moved to another registry is refused",
            &raw,
            crate::webhook::REGISTRY_HEADER,
            "attacker",
        ),
        (
            "a captured raw request given another subject is refused",
            &raw,
            crate::webhook::SUBJECT_HEADER,
            "PAYMENTS",
        ),
        (
            "a captured raw request given another type is refused",
            &raw,
            TYPE_HEADER,
            "io.regsync.eureka.applications.v1",
        ),
        (
            "a captured binary-mode event moved to another registry is refused",
            &binary_request,
            "ce-registry",
            "attacker",
        ),
        (
            "a captured binary-mode event with a raised ce-sourceversion is refused",
            &binary_request,
            "ce-sourceversion",
            "18446744073709551615",
        ),
        (
            "a captured request with another Content-Type is refused",
            &raw,
            "content-type",
            "application/xml",
        ),
    ];
    for (name, signed, header, value) in tampered {
        let mut request = signed.clone();
        tamper(&mut request, header, value);
        out.push(Case {
            name,
            request,
            status: 401,
            field: Some(SIGNATURE_HEADER),
            writes: false,
        });
    }
    let mut moved = raw.clone();
    moved.path = "/other".into();
    out.push(Case {
        name: "a captured request sent to another path is refused",
        request: moved,
        status: 401,
        field: Some(SIGNATURE_HEADER),
        writes: false,
    });
    for (name, prefix) in [
        ("a timestamp with a leading zero is refused", "0"),
        ("a timestamp with a plus sign is refused", "+"),
    ] {
        let mut request = raw.clone();
        tamper(&mut request, TIMESTAMP_HEADER, &format!("{prefix}{now}"));
        out.push(Case {
            name,
            request,
            status: 401,
            field: Some(TIMESTAMP_HEADER),
            writes: false,
        });
    }
    let mut v1 = raw.clone();
    let v1_signature = crate::webhook::sign_v1(SECRET, now, &v1.body);
    tamper(&mut v1, SIGNATURE_HEADER, &v1_signature);
    out.push(Case {
        name: "a v1 signature (timestamp and body only) is refused by default",
        request: v1,
        status: 401,
        field: Some(SIGNATURE_HEADER),
        writes: false,
    });
    let mut twice = raw.clone();
    twice
        .headers
        .push((crate::webhook::REGISTRY_HEADER.into(), "attacker".into()));
    twice
        .headers
        .push((crate::webhook::REGISTRY_HEADER.into(), "eureka".into()));
    sign_request(SECRET, now, &mut twice);
    out.push(Case {
        name: "a header given twice is refused naming it",
        request: twice,
        status: 400,
        field: Some(crate::webhook::REGISTRY_HEADER),
        writes: false,
    });
    let mut huge_version = raw.clone();
    set(
        &mut huge_version,
        SOURCE_VERSION_HEADER,
        "18446744073709551615",
        now,
    );
    out.push(Case {
        name: "a signed source version no registry can produce is refused naming the header",
        request: huge_version,
        status: 400,
        field: Some(SOURCE_VERSION_HEADER),
        writes: false,
    });
    out.push(Case {
        name: "a raw Eureka application with a declared type is accepted",
        request: raw,
        status: 202,
        field: None,
        writes: true,
    });
    let start = EUREKA_RAW_XML_APPS
        .find("<application>")
        .expect("an application");
    let end = EUREKA_RAW_XML_APPS
        .find("</application>")
        .expect("an application")
        + "</application>".len();
    let mut xml = post(
        "application/xml",
        EUREKA_RAW_XML_APPS.as_bytes()[start..end].to_vec(),
        now,
    );
    set(
        &mut xml,
        TYPE_HEADER,
        "io.regsync.eureka.application.v1",
        now,
    );
    out.push(Case {
        name: "a raw Eureka XML application names its own subject, as JSON does",
        request: xml,
        status: 202,
        field: None,
        writes: true,
    });
    let batch = format!("[{}]", DUBBO_ONE);
    out.push(Case {
        name: "a batch of CloudEvents is accepted",
        request: post(BATCH_CONTENT_TYPE, batch.into_bytes(), now),
        status: 202,
        field: None,
        writes: true,
    });
    let mut wrong = post(structured, added.clone(), now);
    sign_request(b"not-the-secret", now, &mut wrong);
    out.push(Case {
        name: "a wrong signature is refused",
        request: wrong,
        status: 401,
        field: Some(SIGNATURE_HEADER),
        writes: false,
    });
    let mut unsigned = post(structured, added.clone(), now);
    unsigned
        .headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case(SIGNATURE_HEADER));
    out.push(Case {
        name: "a missing signature is refused",
        request: unsigned,
        status: 401,
        field: Some(SIGNATURE_HEADER),
        writes: false,
    });
    let old = now - crate::webhook::MAX_AGE_SECONDS - 1;
    out.push(Case {
        name: "a correctly signed request replayed after five minutes is refused",
        request: post(structured, added.clone(), old),
        status: 401,
        field: Some(TIMESTAMP_HEADER),
        writes: false,
    });
    let mut huge = EUREKA_ADDED.trim_end().to_owned();
    huge.push_str(&" ".repeat(MAX_BODY_BYTES));
    out.push(Case {
        name: "a body over the size limit is refused",
        request: post(structured, huge.into_bytes(), now),
        status: 413,
        field: Some("body"),
        writes: false,
    });
    out.push(Case {
        name: "malformed JSON is refused naming the body",
        request: post(
            structured,
            b"{\"specversion\": \"1.0\", \"id\": ".to_vec(),
            now,
        ),
        status: 400,
        field: Some("body"),
        writes: false,
    });
    let unknown = EUREKA_ADDED.replace(
        "io.regsync.eureka.instance.v1",
        "io.regsync.eureka.teleport.v1",
    );
    out.push(Case {
        name: "an unknown event type is refused naming `type`",
        request: post(structured, unknown.into_bytes(), now),
        status: 400,
        field: Some("type"),
        writes: false,
    });
    let no_id = EUREKA_ADDED.replace("\"id\": \"instance-lifecycle-001\",", "");
    out.push(Case {
        name: "an event without an id is refused naming `id`",
        request: post(structured, no_id.into_bytes(), now),
        status: 400,
        field: Some("id"),
        writes: false,
    });
    let bad_data = DUBBO_ONE.replace("\"path\": \"/dubbo/", "\"path\": 42, \"was\": \"/dubbo/");
    let mixed = format!(
        "[{}, {}]",
        EUREKA_ADDED
            .replace("instance-lifecycle-001", "fresh-001")
            .replace("1606976861357", "1606976861999"),
        bad_data
    );
    out.push(Case {
        name: "a batch with one invalid event writes nothing, not even the valid one",
        request: post(BATCH_CONTENT_TYPE, mixed.into_bytes(), now),
        status: 400,
        field: Some("path"),
        writes: false,
    });
    let mut zk_raw = post(
        "application/json",
        br#"{"path":"/dubbo/com.example.Echo/providers","children":[]}"#.to_vec(),
        now,
    );
    set(
        &mut zk_raw,
        TYPE_HEADER,
        "io.regsync.zookeeper.providers.v1",
        now,
    );
    out.push(Case {
        name: "a raw ZooKeeper payload without a version is refused naming the header",
        request: zk_raw,
        status: 400,
        field: Some(SOURCE_VERSION_HEADER),
        writes: false,
    });
    out.push(Case {
        name: "an array sent as one structured event is refused saying to send a batch",
        request: post(structured, format!("[{DUBBO_ONE}]").into_bytes(), now),
        status: 400,
        field: Some("body"),
        writes: false,
    });
    let mut plain = post("text/plain", DUBBO_ONE.as_bytes().to_vec(), now);
    for (attr, value) in event(DUBBO_ONE).binary_headers() {
        plain.headers.push((format!("ce-{attr}"), value));
    }
    sign_request(SECRET, now, &mut plain);
    out.push(Case {
        name: "a binary-mode event sent as text/plain is refused naming its content type",
        request: plain,
        status: 400,
        field: Some("content-type"),
        writes: false,
    });
    let mut get = post(structured, Vec::new(), now);
    get.method = "GET".into();
    sign_request(SECRET, now, &mut get);
    out.push(Case {
        name: "a GET is refused",
        request: get,
        status: 405,
        field: None,
        writes: false,
    });
    out
}

/// What the store holds: every key, and the `latest` pointer's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint {
    keys: Vec<String>,
    latest: Option<Vec<u8>>,
}

impl Fingerprint {
    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.latest.is_none()
    }
}

/// Reads the [`Fingerprint`] of `store`.
pub async fn fingerprint(store: &Store) -> Fingerprint {
    let mut keys = store.list("").await.expect("store lists");
    keys.sort();
    let latest = store
        .get("latest")
        .await
        .expect("store reads")
        .map(|o| o.bytes);
    Fingerprint { keys, latest }
}

impl Case {
    /// Checks a response and the store's change against the case.
    pub fn check(
        &self,
        status: u16,
        body: &Value,
        before: &Fingerprint,
        after: &Fingerprint,
    ) -> Result<(), String> {
        let name = self.name;
        if status != self.status {
            return Err(format!(
                "{name}: status {status}, expected {} (body {body})",
                self.status
            ));
        }
        if let Some(field) = self.field
            && body["field"] != field
        {
            return Err(format!(
                "{name}: body does not name field {field:?}: {body}"
            ));
        }
        if status >= 400 && body["error"].as_str().is_none_or(str::is_empty) {
            return Err(format!(
                "{name}: an error body must say what is wrong: {body}"
            ));
        }
        if status == 202 && body["accepted"].as_array().is_none_or(Vec::is_empty) {
            return Err(format!("{name}: a 202 must list the accepted ids: {body}"));
        }
        let wrote = before.latest != after.latest;
        if wrote != self.writes {
            return Err(format!(
                "{name}: store {} but the case expects it {}",
                if wrote { "changed" } else { "did not change" },
                if self.writes {
                    "to change"
                } else {
                    "unchanged"
                }
            ));
        }
        if !self.writes && before != after {
            return Err(format!(
                "{name}: objects were written although nothing was published"
            ));
        }
        Ok(())
    }
}
