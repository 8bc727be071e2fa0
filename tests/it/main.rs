//! gazette's integration tests, one binary (one link of sqlx and the
//! crate instead of one per file). Each module is the file of the same
//! name: `cargo test --test it outbox::` runs one of them.

mod common;

mod bounce_formats;
mod bounce_reactivate;
mod classify_corpora;
mod classify_fuzz;
mod cli;
mod delivery_faults;
mod digest_parts;
mod digest_schedule;
mod dkim;
mod doors;
mod editor_browser;
mod editor_http;
mod email_loop;
mod fuzz_properties;
mod inbound_edges;
mod inbound_pipeline;
mod inbound_trust;
mod ingest_corpora;
mod inspect;
mod issue_sending;
mod leaks;
mod members;
mod notice_budgets;
mod outbox;
mod outbox_plan;
mod parsers_fuzz;
mod relay_down;
mod relay_faults;
mod restart_safety;
mod retention;
mod scale_out;
mod schema;
mod sender_auth;
mod shutdown;
mod states;
mod trim_corpora;
mod web_pages;
