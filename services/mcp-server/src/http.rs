//! The operations endpoint: `/healthz`, `/readyz`, `/metrics` and `/status` (JSON, or a small
//! HTML page for a browser).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use regsync_mcp::{Ads, Client};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::watch::{SharedStatus, SnapshotStatus, snapshot_status};

/// What the handlers read.
#[derive(Clone)]
pub struct Ops {
    /// The snapshot's status.
    pub status: SharedStatus,
    /// The ADS service, for its clients.
    pub ads: Ads,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

/// `/status` as JSON.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The snapshot served, held and last refused.
    pub snapshot: SnapshotStatus,
    /// Every connected client.
    pub clients: Vec<Client>,
}

/// The router.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(ops)
}

async fn readyz(State(ops): State<Ops>) -> Response {
    let s = snapshot_status(&ops.status);
    match s.generation {
        Some(g) => format!("ready: serving generation {g}\n").into_response(),
        None => {
            let why = match (&s.last_failure, s.latest_seen) {
                (Some(f), _) => format!("the last generation failed ({}: {})", f.reason, f.detail),
                (None, Some(0)) => format!("nothing published in {} yet", s.store),
                _ => "the store has not been read yet".to_owned(),
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: no good snapshot loaded; {why}\n"),
            )
                .into_response()
        }
    }
}

async fn metrics(State(ops): State<Ops>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ops.metrics.encode(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Format {
    format: Option<String>,
}

async fn status(State(ops): State<Ops>, query: Query<Format>, headers: HeaderMap) -> Response {
    let status = Status {
        snapshot: snapshot_status(&ops.status),
        clients: ops.ads.clients(),
    };
    let html = match query.format.as_deref() {
        Some(f) => f == "html",
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    };
    if html {
        return (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page(&status),
        )
            .into_response();
    }
    axum::Json(status).into_response()
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: &Status) -> String {
    let s = &status.snapshot;
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>regsync MCP status</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.warn{color:#a40000}</style>\
         </head><body><h1>regsync MCP server</h1>",
    );
    let generation = s
        .generation
        .map_or_else(|| "none yet".to_owned(), |g| g.to_string());
    let _ = write!(
        out,
        "<h2>Snapshot</h2><table><tr><th>store</th><td>{}</td></tr>\
         <tr><th>generation served</th><td>{generation}</td></tr>\
         <tr><th>entries</th><td>{}</td></tr><tr><th>endpoints</th><td>{}</td></tr>\
         <tr><th>newest generation in the store</th><td>{}</td></tr>",
        escape(&s.store),
        s.entries,
        s.endpoints,
        s.latest_seen
            .map_or_else(|| "not read yet".to_owned(), |g| g.to_string()),
    );
    for (registry, endpoints) in &s.registries {
        let _ = write!(
            out,
            "<tr><th>endpoints of {}</th><td>{endpoints}</td></tr>",
            escape(registry)
        );
    }
    out.push_str("</table>");
    if let Some(held) = &s.held {
        let _ = write!(
            out,
            "<p class=\"warn\">Held generation {}: {}. Served anyway at Unix time {} unless \
             the loss recovers; <code>regsync mcp release --store {} --generation {}</code> \
             serves it now.</p>",
            held.generation,
            escape(&held.loss.to_string()),
            held.release_at_unix,
            escape(&s.store),
            held.generation
        );
    }
    if let Some(f) = &s.last_failure {
        let _ = write!(
            out,
            "<p class=\"warn\">Last generation not served ({}): {}: {}</p>",
            f.generation
                .map_or_else(|| "unknown".to_owned(), |g| g.to_string()),
            escape(&f.reason),
            escape(&f.detail)
        );
    }
    let _ = write!(
        out,
        "<h2>Clients ({})</h2><table><tr><th>node</th><th>revision</th><th>peer</th>\
         <th>last ACKed version per type</th></tr>",
        status.clients.len()
    );
    for c in &status.clients {
        let acked: Vec<String> = c
            .acked
            .iter()
            .map(|(t, v)| format!("{}: {}", escape(t), escape(v)))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.node),
            escape(c.revision.as_deref().unwrap_or("")),
            escape(c.peer.as_deref().unwrap_or("")),
            acked.join("<br>")
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_clients_send() {
        let status = Status {
            snapshot: SnapshotStatus::default(),
            clients: vec![Client {
                node: "<script>alert(1)</script>".into(),
                ..Client::default()
            }],
        };
        let html = page(&status);
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
