//! Inbound mail: three transports (the SMTP/LMTP listener, `gazette ingest`
//! on stdin, and `POST /inbound` over HTTP) feed one pipeline:
//! size limit → store raw (dedupe) → classify → route → act → record.

pub mod act;
pub mod auth;
pub mod body;
pub mod classify;
pub mod explain;
pub mod listener;
pub mod pipeline;
pub mod smtp;

pub use pipeline::{receive, InboundError, Incoming, Receipt};
