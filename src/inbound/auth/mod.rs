//! Who sent a message: sender authentication, decided once per message
//! when it arrives and stored with it (`inbound_auth`), then used by every
//! action that speaks for a member (an answer, an unsubscribe) or answers
//! a stranger (a notice).
//!
//! Where the verdict comes from, first that applies:
//! 1. mail that came through an MTA in front (piped in, posted over HTTP,
//!    or delivered over SMTP/LMTP from loopback or a private address)
//!    whose topmost `Authentication-Results` was written by an authserv-id
//!    in `GAZETTE_TRUSTED_AUTHSERV_IDS`: that MTA's verdict
//!    ([`results`]);
//! 2. mail received over SMTP/LMTP with `GAZETTE_SENDER_AUTH=dns`:
//!    gazette's own DKIM, SPF and DMARC checks ([`checks`]);
//! 3. otherwise nothing could be checked ([`Verdict::Unchecked`]), and
//!    the envelope sender must match the From address ([`trust`]).
//!
//! A sender is authenticated when a DKIM signature or the SPF domain
//! passes and is aligned with the From domain (the same domain, or a
//! parent or child of it; with a DMARC record, DMARC's own alignment).

pub mod checks;
pub mod dns;
pub mod results;
pub mod trust;

pub use checks::Client;

use crate::app::Ctx;
use crate::config::SenderAuthMode;
use mail_auth::MessageAuthenticator;
use mail_parser::Message;

/// How a sender was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Dkim,
    Spf,
    /// A trusted MTA's `dmarc=pass`.
    Dmarc,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Dkim => "dkim",
            Method::Spf => "spf",
            Method::Dmarc => "dmarc",
        }
    }

    fn parse(s: &str) -> Option<Method> {
        [Method::Dkim, Method::Spf, Method::Dmarc]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The verdict on a message's From address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `method` passed for `domain`, aligned with the From domain.
    Pass { method: Method, domain: String },
    /// Checked, and not authenticated: why.
    Fail { why: String },
    /// Nothing could be checked: why.
    Unchecked { why: String },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Pass { .. } => "pass",
            Verdict::Fail { .. } => "fail",
            Verdict::Unchecked { .. } => "unchecked",
        }
    }
}

/// What is recorded with an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub verdict: Verdict,
    /// Who decided: `gazette` for its own checks, an MTA's authserv-id,
    /// or empty.
    pub source: String,
    /// The individual results, for the operator.
    pub detail: String,
}

impl Authentication {
    /// The record of `verdict`: its reason when it did not pass, else
    /// the individual results.
    fn new(verdict: Verdict, source: impl Into<String>, results: String) -> Authentication {
        let detail = match &verdict {
            Verdict::Pass { .. } => results,
            Verdict::Fail { why } | Verdict::Unchecked { why } => why.clone(),
        };
        Authentication {
            verdict,
            source: source.into(),
            detail,
        }
    }

    fn unchecked(why: impl Into<String>) -> Authentication {
        Authentication::new(Verdict::Unchecked { why: why.into() }, "", String::new())
    }

    /// The parts as stored: verdict, method, domain, source, detail.
    pub fn to_row(&self) -> (&'static str, &'static str, &str, &str, &str) {
        let (method, domain) = match &self.verdict {
            Verdict::Pass { method, domain } => (method.as_str(), domain.as_str()),
            _ => ("", ""),
        };
        (
            self.verdict.name(),
            method,
            domain,
            &self.source,
            &self.detail,
        )
    }

    /// Back from the stored parts; `None` for a verdict this version does
    /// not know.
    pub fn from_row(
        verdict: &str,
        method: &str,
        domain: &str,
        source: &str,
        detail: &str,
    ) -> Option<Self> {
        let verdict = match verdict {
            "pass" => Verdict::Pass {
                method: Method::parse(method)?,
                domain: domain.to_string(),
            },
            "fail" => Verdict::Fail {
                why: detail.to_string(),
            },
            "unchecked" => Verdict::Unchecked {
                why: detail.to_string(),
            },
            _ => return None,
        };
        Some(Authentication {
            verdict,
            source: source.to_string(),
            detail: detail.to_string(),
        })
    }
}

/// The resolver and its cache, shared by every message; absent when
/// `GAZETTE_SENDER_AUTH=off`.
pub struct SenderAuth {
    resolver: MessageAuthenticator,
    dns: dns::DnsCache,
}

impl SenderAuth {
    /// A resolver from the system's configuration (`/etc/resolv.conf`).
    /// It looks nothing up until a message needs it.
    pub fn from_system() -> anyhow::Result<SenderAuth> {
        let resolver = MessageAuthenticator::new_system_conf().map_err(|e| {
            anyhow::anyhow!(
                "cannot set up DNS for sender authentication ({e}); fix /etc/resolv.conf, or set GAZETTE_SENDER_AUTH=off on a machine without DNS"
            )
        })?;
        Ok(SenderAuth {
            resolver,
            dns: dns::DnsCache::default(),
        })
    }

    /// The cache of DNS answers (tests publish records in it).
    pub fn dns(&self) -> &dns::DnsCache {
        &self.dns
    }
}

impl std::fmt::Debug for SenderAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SenderAuth(..)")
    }
}

/// What a transport knows about where a message came from.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub transport: &'a str,
    /// The SMTP/LMTP client; `None` for stdin and HTTP.
    pub client: Option<Client<'a>>,
    /// The envelope sender as the transport gave it.
    pub mail_from: Option<&'a str>,
}

/// Decides who sent `raw` (as received, without our trace fields).
pub async fn authenticate(
    ctx: &Ctx,
    arrival: &Arrival<'_>,
    raw: &[u8],
    msg: Option<&Message<'_>>,
) -> Authentication {
    let Some(from_domain) = msg.and_then(from_domain) else {
        return Authentication::unchecked("the message has no From address to authenticate");
    };
    let direct = arrival.client.is_some_and(|c| checks::is_public(c.ip));
    if !direct {
        let headers = msg.into_iter().flat_map(|m| m.headers_raw());
        if let Some(r) = results::trusted(headers, &ctx.config.trusted_authserv_ids) {
            let said = r
                .methods
                .iter()
                .map(|m| format!("{}={}", m.method, m.result))
                .collect::<Vec<_>>()
                .join(" ");
            return Authentication::new(r.verdict(&from_domain), r.authserv_id, said);
        }
    }
    let (Some(auth), Some(client)) = (&ctx.sender_auth, arrival.client) else {
        let why = match (ctx.config.sender_auth, arrival.client) {
            (SenderAuthMode::Off, Some(_)) => {
                "sender checks are off (GAZETTE_SENDER_AUTH=off)".to_string()
            }
            (SenderAuthMode::Dns, Some(_)) => {
                "sender checks need DNS, which could not be set up (see the warning at start-up)"
                    .to_string()
            }
            _ => format!(
                "received by {} without an Authentication-Results header from a trusted MTA (GAZETTE_TRUSTED_AUTHSERV_IDS)",
                arrival.transport
            ),
        };
        return Authentication::unchecked(why);
    };
    let checked = checks::check(
        &auth.resolver,
        &auth.dns,
        &ctx.config.hostname,
        raw,
        &from_domain,
        client,
        arrival.mail_from.unwrap_or(""),
    )
    .await;
    Authentication::new(checked.verdict, "gazette", checked.summary)
}

/// The domain of the first From address, lower case.
pub fn from_domain(msg: &Message<'_>) -> Option<String> {
    let addr = msg.from()?.first()?.address()?;
    let (_, domain) = addr.rsplit_once('@')?;
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

/// Relaxed alignment without a public-suffix list: the same domain, or one
/// a parent of the other (`mail.example.org` and `example.org`); never a
/// single label (`org`).
pub fn aligned(domain: &str, from_domain: &str) -> bool {
    let a = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let b = from_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let under =
        |child: &str, parent: &str| parent.contains('.') && child.ends_with(&format!(".{parent}"));
    a == b || under(&a, &b) || under(&b, &a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert!(aligned("example.org", "Example.ORG."));
        assert!(aligned("mail.example.org", "example.org"));
        assert!(aligned("example.org", "lists.example.org"));
        assert!(!aligned("example.org.evil", "example.org"));
        assert!(!aligned("notexample.org", "example.org"));
        assert!(!aligned("org", "example.org"), "a bare TLD never aligns");
        assert!(!aligned("", "example.org"));
    }

    #[test]
    fn stored_form_round_trips() {
        for a in [
            Authentication {
                verdict: Verdict::Pass {
                    method: Method::Dkim,
                    domain: "example.org".into(),
                },
                source: "gazette".into(),
                detail: "dkim=pass".into(),
            },
            Authentication::unchecked("received by stdin"),
        ] {
            let (v, m, d, s, det) = a.to_row();
            assert_eq!(Authentication::from_row(v, m, d, s, det), Some(a.clone()));
        }
    }
}
