//! Bearer tokens for the endpoints machines call (`POST /inbound`,
//! `/metrics`), compared without leaking the secret through timing.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// Whether the request's `Authorization: Bearer …` is `secret`. An empty
/// secret matches nothing.
pub fn matches(headers: &HeaderMap, secret: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare digests so the time taken does not reveal the secret's length.
    let (x, y) = (Sha256::digest(given.as_bytes()), Sha256::digest(secret));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}
