//! `GAZETTE_SMTP_URL`: where outgoing mail goes (`file://DIR`,
//! `smtp://host:port`, `smtps://user:pass@host`) and how the connection to
//! a relay is encrypted (`?tls=`).

use super::{bad, ConfigError, Raw};
use crate::secret::Secret;
use std::path::PathBuf;

/// Where outgoing mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpTarget {
    /// Write one `.eml` file per message into this directory.
    Files(PathBuf),
    /// An SMTP relay.
    Relay {
        host: String,
        port: u16,
        tls: SmtpTls,
        /// User name and password for AUTH.
        credentials: Option<(String, Secret<String>)>,
    },
}

/// How the connection to the relay is encrypted: the scheme of
/// `GAZETTE_SMTP_URL` and its `?tls=` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://` (default, `?tls=opportunistic`): STARTTLS when the relay
    /// offers it, certificate not verified, like Postfix's
    /// `smtp_tls_security_level = may`, so a local relay with a self-signed
    /// certificate works; plain text otherwise.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS must be offered and the
    /// certificate must verify, else the send fails temporarily.
    Required,
    /// `smtp://…?tls=none`: never STARTTLS.
    None,
    /// `smtps://`: TLS from the first byte, certificate verified.
    Implicit,
    /// `smtps://…?tls=insecure`: TLS from the first byte, any certificate.
    ImplicitInsecure,
}

impl SmtpTls {
    /// TLS from the first byte (`smtps://`).
    pub fn is_implicit(self) -> bool {
        matches!(self, SmtpTls::Implicit | SmtpTls::ImplicitInsecure)
    }

    /// The relay's certificate is checked against the web PKI roots.
    pub fn verifies_certificate(self) -> bool {
        matches!(self, SmtpTls::Required | SmtpTls::Implicit)
    }
}

/// True for hosts whose traffic never leaves this machine, where a
/// password may travel unencrypted.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn parse_smtp_url(raw: &Raw) -> Result<SmtpTarget, ConfigError> {
    let shown = crate::redact::url(raw.value.trim());
    let v = shown.as_str();
    let url = raw.value.trim();
    let fix = "Use file://DIR (writes .eml files), smtp://host:port or smtps://user:pass@host.";
    if let Some(dir) = url.strip_prefix("file://") {
        if dir.is_empty() {
            return Err(bad(&raw.name, v, "the directory is empty", fix));
        }
        return Ok(SmtpTarget::Files(PathBuf::from(dir)));
    }
    let (implicit, rest, default_port) = if let Some(r) = url.strip_prefix("smtps://") {
        (true, r, 465)
    } else if let Some(r) = url.strip_prefix("smtp://") {
        (false, r, 25)
    } else {
        return Err(bad(&raw.name, v, "unknown scheme", fix));
    };
    // The query starts at the first `?` after the credentials (a password
    // may hold a `?` only percent-encoded, but an `@` is tolerated).
    let host_start = rest.rfind('@').map_or(0, |at| at + 1);
    let (rest, query) = match rest[host_start..].find('?') {
        Some(q) => (&rest[..host_start + q], Some(&rest[host_start + q + 1..])),
        None => (rest, None),
    };
    let tls = parse_tls_query(raw, v, implicit, query)?;
    let rest = rest.trim_end_matches('/');
    let (credentials, hostport) = match rest.rsplit_once('@') {
        Some((auth, hp)) => {
            let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
            (
                Some((percent_decode(user), percent_decode(pass).into())),
                hp,
            )
        }
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h.to_string(), p),
            Err(_) => {
                return Err(bad(
                    &raw.name,
                    v,
                    format!("port `{p}` is not a number"),
                    fix,
                ))
            }
        },
        None => (hostport.to_string(), default_port),
    };
    if host.is_empty() {
        return Err(bad(&raw.name, v, "the host is empty", fix));
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if tls == SmtpTls::None && credentials.is_some() && !is_loopback_host(&host) {
        return Err(bad(
            &raw.name,
            v,
            "tls=none would send the relay password unencrypted over the network",
            "Drop ?tls=none (STARTTLS is then used when offered), use ?tls=required or smtps://, or reach the relay on loopback.",
        ));
    }
    Ok(SmtpTarget::Relay {
        host,
        port,
        tls,
        credentials,
    })
}

/// Reads `?tls=` (the only query parameter) for the scheme at hand.
fn parse_tls_query(
    raw: &Raw,
    url: &str,
    implicit: bool,
    query: Option<&str>,
) -> Result<SmtpTls, ConfigError> {
    let accepted = if implicit {
        "for smtps:// it is tls=required (the default: the certificate is verified) or tls=insecure (any certificate)"
    } else {
        "for smtp:// it is tls=opportunistic (the default: STARTTLS when offered, certificate not verified), tls=required (STARTTLS with a verified certificate) or tls=none (never STARTTLS)"
    };
    let mut tls = if implicit {
        SmtpTls::Implicit
    } else {
        SmtpTls::Opportunistic
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "tls" {
            return Err(bad(
                &raw.name,
                url,
                format!("unknown parameter `{key}`; the only one is tls"),
                format!("Remove it; {accepted}."),
            ));
        }
        tls = match (implicit, value.to_ascii_lowercase().as_str()) {
            (false, "opportunistic") => SmtpTls::Opportunistic,
            (false, "required") => SmtpTls::Required,
            (false, "none") => SmtpTls::None,
            (true, "required") => SmtpTls::Implicit,
            (true, "insecure") => SmtpTls::ImplicitInsecure,
            _ => {
                return Err(bad(
                    &raw.name,
                    url,
                    format!("tls={value} is not a TLS mode"),
                    format!("Use one of the accepted values: {accepted}."),
                ))
            }
        };
    }
    Ok(tls)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
