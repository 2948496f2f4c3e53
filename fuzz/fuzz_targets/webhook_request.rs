//! Any HTTP request to the webhook (`METHOD PATH`, header lines, an empty line, the body):
//! `decode` (binary mode with `ce-` headers, structured, batch, raw payloads declared by
//! `X-Regsync-*` headers) and `authenticate` never panic; an unsigned request never
//! authenticates, the same request signed with the secret always does (unless a header it
//! reads is repeated, which is refused as a 400), and a signed request whose body changes
//! afterwards does not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsync_fuzz::{MAX_BYTES, Message, assert_forwards_unchanged, text};
use regsync_pipeline::webhook::{
    Request, SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook, decode, sign_request, sign_v1,
};

/// Not the secret of any committed fixture, so a seed's own signature never verifies.
const SECRET: &[u8] = b"fuzz-webhook-secret";
/// The server's clock when the request has no usable timestamp.
const NOW: u64 = 1_763_800_000;

/// Whether a header the webhook reads (signed ones, the content type, timestamp, signature) is
/// given more than once, names compared case-insensitively.
fn repeats_a_read_header(req: &Request) -> bool {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| k.starts_with("x-regsync-") || k.starts_with("ce-") || k == "content-type")
        .collect();
    names.sort();
    names.windows(2).any(|w| w[0] == w[1])
}

fuzz_target!(|data: &[u8]| {
    let message = Message::parse(data);
    let first = text(message.first);
    let (method, path) = first.split_once(' ').unwrap_or((&first, "/"));
    let mut req = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: message
            .headers
            .iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect(),
        body: message.body.to_vec(),
    };

    if let Ok(events) = decode(&req, MAX_BYTES) {
        for event in &events {
            assert_forwards_unchanged(event);
        }
    }

    let mut webhook = Webhook::new(SECRET, MAX_BYTES);
    webhook.accept_v1 = data.len() % 2 == 0;
    // The request's own timestamp, when it has one, so the signature check is reached.
    let now = req
        .header(TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .unwrap_or(NOW);
    if let Ok(()) = webhook.authenticate(&req, now) {
        panic!("an unsigned request authenticates: {req:?}");
    }

    // Signed (v2) as a sender does, after every other header.
    sign_request(SECRET, now, &mut req);
    let verdict = webhook.authenticate(&req, now);
    if repeats_a_read_header(&req) {
        let refused = verdict.expect_err("a repeated header is refused");
        assert_eq!(refused.status, 400, "{refused:?}");
        return;
    }
    if let Err(refused) = verdict {
        panic!("a signed request is refused: {refused:?} {req:?}");
    }
    if let Some(last) = req.body.len().checked_sub(1) {
        req.body[last] ^= 1;
        let refused = webhook
            .authenticate(&req, now)
            .expect_err("a body changed after signing is refused");
        assert_eq!(refused.status, 401, "{refused:?}");
        req.body[last] ^= 1;
    }

    // Signed (v1), which covers only the timestamp and body: accepted only when enabled.
    let v1 = sign_v1(SECRET, now, &req.body);
    for (k, v) in &mut req.headers {
        if k.eq_ignore_ascii_case(SIGNATURE_HEADER) {
            *v = v1.clone();
        }
    }
    let verdict = webhook.authenticate(&req, now);
    assert_eq!(verdict.is_ok(), webhook.accept_v1, "{verdict:?} {req:?}");
});
