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
pub mod inbound;
pub mod lists;
pub mod markdown;
pub mod membership;
pub mod moderation;
pub mod net;
pub mod notices;
pub mod outbound;
pub mod posts;
pub mod serve;
pub mod store;
pub mod tokens;
pub mod trim;
pub mod web;

/// Milliseconds since the Unix epoch: the one time format the store keeps.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
