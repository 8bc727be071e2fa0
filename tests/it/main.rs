//! gazette's integration tests, one binary (one link of sqlx and the
//! crate instead of one per file). Each module is the file of the same
//! name: `cargo test --test it outbox::` runs one of them.

mod common;

mod bounce_formats;
mod classify_corpora;
mod classify_fuzz;
mod delivery_faults;
mod digest_schedule;
mod dkim;
mod email_loop;
mod fuzz_properties;
mod inbound_edges;
mod inbound_trust;
mod ingest_corpora;
mod inspect;
mod members;
mod outbox;
mod parsers_fuzz;
mod restart_safety;
mod shutdown;
mod trim_corpora;
mod web_pages;
