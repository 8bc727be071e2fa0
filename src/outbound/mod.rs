//! Outgoing mail, as a pipeline of clear stages:
//! outbox (claim due rows with a lease) → render (per recipient) →
//! compose (MIME with list headers) → DKIM-sign → transport (one envelope
//! per recipient) → record (sent, retry with backoff, or failed).

pub mod cache;
pub mod compose;
pub mod dkim;
pub mod render;
pub mod text;
pub mod transport;
pub mod views;
pub mod worker;
