//! gazette: an email-first engine for professional Q&A communities.
//!
//! Members subscribe, ask and answer by email; an editor curates a periodic
//! digest that gazette delivers on a schedule. Data flows one way:
//! transports (`inbound`, `web`, the CLI) → domain modules (`membership`,
//! `posts`, `digest`) → `store`. Outgoing mail goes through `outbound`.

pub mod address;
pub mod app;
pub mod cli;
pub mod config;
pub mod digest;
pub mod editors;
pub mod email;
pub mod files;
pub mod inbound;
pub mod lists;
pub mod logging;
pub mod markdown;
pub mod membership;
pub mod moderation;
pub mod net;
pub mod notices;
pub mod outbound;
pub mod posts;
pub mod redact;
pub mod retention;
pub mod secret;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod token_secret;
pub mod tokens;
pub mod trim;
pub mod web;

/// Milliseconds since the Unix epoch: the one time format the store keeps.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored time for logs and messages: `2026-12-07T08:00:00Z`.
pub fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}
