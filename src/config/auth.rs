//! Settings about trust: the token key (`GAZETTE_SECRET`) and how the
//! senders of inbound mail are authenticated (`GAZETTE_SENDER_AUTH`,
//! `GAZETTE_TRUSTED_AUTHSERV_IDS`).

use super::{bad, ConfigError, Raw};

/// `GAZETTE_SENDER_AUTH`: how senders of mail received over SMTP/LMTP are
/// authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderAuthMode {
    /// DKIM, SPF and DMARC checked with DNS lookups (the default).
    Dns,
    /// No lookups (tests, sites without DNS): the envelope sender must
    /// match the From address, as for mail piped in.
    Off,
}

/// The token key: empty (a generated one is used) or at least
/// [`MIN_SECRET_BYTES`] bytes, so that it cannot be guessed.
pub(super) fn parse_secret(raw: &Raw) -> Result<String, ConfigError> {
    let v = raw.value.trim();
    if !v.is_empty() && v.len() < MIN_SECRET_BYTES {
        return Err(bad(
            &raw.name,
            "(hidden)",
            format!(
                "the token key is {} bytes long; it must be at least {MIN_SECRET_BYTES}, or anyone could guess it and forge reply, confirm and unsubscribe links",
                v.len()
            ),
            "Generate one with: openssl rand -hex 32 (and give every gazette process the same), or leave it empty to let gazette generate and keep one.",
        ));
    }
    Ok(v.to_string())
}

pub(super) fn parse_sender_auth(raw: &Raw) -> Result<SenderAuthMode, ConfigError> {
    match raw.value.trim().to_ascii_lowercase().as_str() {
        "dns" => Ok(SenderAuthMode::Dns),
        "off" => Ok(SenderAuthMode::Off),
        _ => Err(bad(
            &raw.name,
            &raw.value,
            "it is dns (check DKIM, SPF and DMARC of mail received over SMTP) or off (no DNS lookups)",
            "Use dns (the default) unless this machine cannot reach DNS.",
        )),
    }
}

/// Comma-separated authserv-ids (host names, usually), lower-cased.
pub(super) fn parse_authserv_ids(raw: &Raw) -> Result<Vec<String>, ConfigError> {
    let mut ids = Vec::new();
    for id in raw
        .value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let usable = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !usable {
            return Err(bad(
                &raw.name,
                &raw.value,
                format!("`{id}` is not an authserv-id"),
                "List the names your MTA writes first in its Authentication-Results headers (usually its host name, e.g. mx.example.org), separated by commas.",
            ));
        }
        ids.push(id.to_ascii_lowercase());
    }
    Ok(ids)
}

/// Shortest `GAZETTE_SECRET` accepted.
pub const MIN_SECRET_BYTES: usize = 32;
