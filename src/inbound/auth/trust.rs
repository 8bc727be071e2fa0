//! The two rules every action applies to a message's sender.
//!
//! - [`author`]: may the message act as its From address (post an answer
//!   as that member, unsubscribe them)? Yes when the sender is
//!   authenticated; when nothing could be checked, only if the envelope
//!   sender is the From address (or no envelope is known: mail piped in
//!   without one).
//! - [`notice_address`]: may gazette answer it (a confirmation, a "not
//!   posted" notice)? Only at the envelope sender, and only when that is
//!   the From address and the sender is not known to be forged: never
//!   backscatter to an address someone else wrote in.

use super::{aligned, Authentication, Method, Verdict};
use crate::email::EmailAddress;

/// Why a sender may act as their From address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// DKIM, SPF or a trusted DMARC pass, aligned with the From domain.
    Authenticated { method: Method, domain: String },
    /// Nothing could be checked; the envelope sender is the From address.
    EnvelopeMatches,
    /// Nothing could be checked and no envelope is known (piped in
    /// without `$SENDER` or `Return-Path`).
    NoEnvelope,
}

/// Whether the sender of a message may act as `from`; `Err` says why not.
pub fn author(
    auth: &Authentication,
    envelope: Option<&str>,
    from: &EmailAddress,
) -> Result<Author, String> {
    match &auth.verdict {
        Verdict::Pass { method, domain } if aligned(domain, from.domain()) => {
            Ok(Author::Authenticated {
                method: *method,
                domain: domain.clone(),
            })
        }
        Verdict::Pass { domain, .. } => Err(format!(
            "the sender is authenticated for {domain}, not for {from}"
        )),
        Verdict::Fail { why } => Err(format!("the sender is not authenticated: {why}")),
        Verdict::Unchecked { .. } => match envelope.map(bare) {
            None => Ok(Author::NoEnvelope),
            Some("") => Err("the envelope sender is empty (<>), as for a bounce".into()),
            Some(env) if env.eq_ignore_ascii_case(from.as_str()) => Ok(Author::EnvelopeMatches),
            Some(env) => Err(format!(
                "the envelope sender {env} is not the From address, and nothing authenticates the sender"
            )),
        },
    }
}

/// Where a notice about this message may go: the envelope sender, when
/// it is the From address and [`author`] accepts the sender. `Err` says
/// why it goes nowhere.
pub fn notice_address(
    auth: &Authentication,
    envelope: Option<&str>,
    from: &EmailAddress,
) -> Result<EmailAddress, String> {
    author(auth, envelope, from)?;
    match envelope.map(bare) {
        None => Ok(from.clone()),
        Some(env) if env.eq_ignore_ascii_case(from.as_str()) => Ok(from.clone()),
        Some(env) => Err(format!(
            "the envelope sender {} is not the From address",
            if env.is_empty() { "<>" } else { env }
        )),
    }
}

fn bare(s: &str) -> &str {
    s.trim().trim_matches(['<', '>'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(verdict: Verdict) -> Authentication {
        Authentication {
            verdict,
            source: String::new(),
            detail: String::new(),
        }
    }

    #[test]
    fn authors() {
        let from = EmailAddress::parse("ann@example.org").unwrap();
        let pass = auth(Verdict::Pass {
            method: Method::Dkim,
            domain: "example.org".into(),
        });
        let fail = auth(Verdict::Fail {
            why: "spf=fail".into(),
        });
        let unchecked = auth(Verdict::Unchecked {
            why: "stdin".into(),
        });
        // Authenticated: the envelope may differ (a bounce address at an ESP).
        assert!(author(&pass, Some("bounces@esp.example"), &from).is_ok());
        // A pass for another domain does not speak for this address.
        let other = EmailAddress::parse("ann@other.example").unwrap();
        assert!(author(&pass, None, &other)
            .unwrap_err()
            .contains("other.example"));
        assert!(author(&fail, Some("ann@example.org"), &from)
            .unwrap_err()
            .contains("spf=fail"));
        assert_eq!(
            author(&unchecked, Some("<Ann@Example.org>"), &from),
            Ok(Author::EnvelopeMatches)
        );
        assert_eq!(author(&unchecked, None, &from), Ok(Author::NoEnvelope));
        assert!(author(&unchecked, Some("mallory@evil.example"), &from).is_err());
        assert!(author(&unchecked, Some(""), &from).is_err());
    }

    #[test]
    fn notices_go_to_a_matching_envelope_only() {
        let from = EmailAddress::parse("ann@example.org").unwrap();
        let pass = auth(Verdict::Pass {
            method: Method::Spf,
            domain: "example.org".into(),
        });
        assert_eq!(
            notice_address(&pass, Some("ann@example.org"), &from),
            Ok(from.clone())
        );
        assert!(notice_address(&pass, Some("bounces@esp.example"), &from).is_err());
        let fail = auth(Verdict::Fail { why: "x".into() });
        assert!(notice_address(&fail, Some("ann@example.org"), &from).is_err());
    }
}
