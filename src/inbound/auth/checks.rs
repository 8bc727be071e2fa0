//! gazette's own checks of a message received over SMTP/LMTP, with
//! mail-auth: DKIM signatures always (they travel with the message), SPF
//! only when the client is the sender's own server (a public address: from
//! loopback or a private network it is an MTA in front of gazette, whose
//! address says nothing about the sender), and DMARC over both.

use super::dns::DnsCache;
use super::{aligned, Method, Verdict};
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, Parameters, SpfOutput,
    SpfResult,
};
use std::net::IpAddr;

/// The SMTP client of a message: its address and what it said in HELO.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
}

/// What the checks found, and the verdict for the From domain.
pub(super) struct Checked {
    pub verdict: Verdict,
    /// `dkim=pass (example.org) spf=none dmarc=pass`, for the record.
    pub summary: String,
}

pub(super) async fn check(
    resolver: &MessageAuthenticator,
    dns: &DnsCache,
    hostname: &str,
    raw: &[u8],
    from_domain: &str,
    client: Client<'_>,
    mail_from: &str,
) -> Checked {
    let Some(msg) = AuthenticatedMessage::parse(raw) else {
        return Checked {
            verdict: Verdict::Unchecked {
                why: "the headers could not be read for DKIM".into(),
            },
            summary: String::new(),
        };
    };
    // Every lookup goes through the cache (a macro: each check has its
    // own parameter type).
    macro_rules! params {
        ($p:expr) => {
            Parameters::new($p)
                .with_txt_cache(&dns.txt)
                .with_mx_cache(&dns.mx)
                .with_ipv4_cache(&dns.ipv4)
                .with_ipv6_cache(&dns.ipv6)
                .with_ptr_cache(&dns.ptr)
        };
    }
    let dkim = if msg.dkim_headers.is_empty() {
        Vec::new()
    } else {
        resolver.verify_dkim(params!(&msg)).await
    };
    let direct = is_public(client.ip);
    let helo = client.helo.trim_matches(['[', ']']);
    let spf = if !direct {
        None
    } else if mail_from.is_empty() {
        let p = SpfParameters::verify_ehlo(client.ip, helo, hostname);
        Some(resolver.verify_spf(params!(p)).await)
    } else {
        let p = SpfParameters::verify_mail_from(client.ip, helo, hostname, mail_from);
        Some(resolver.verify_spf(params!(p)).await)
    };
    let spf_domain = match mail_from.rsplit_once('@') {
        Some((_, d)) => d.to_ascii_lowercase(),
        None => helo.to_ascii_lowercase(),
    };
    let no_spf = SpfOutput::new(spf_domain.clone()).with_result(SpfResult::None);
    let dmarc = if dkim.is_empty() && spf.is_none() {
        None
    } else {
        let p = DmarcParameters::new(&msg, &dkim, &spf_domain, spf.as_ref().unwrap_or(&no_spf));
        Some(resolver.verify_dmarc(params!(p)).await)
    };

    // With a DMARC record, its alignment rules (strict or relaxed, the
    // organisational domain) decide; without one, the signing or SPF
    // domain must be the From domain or a parent or child of it.
    let has_record = dmarc.as_ref().is_some_and(|d| d.dmarc_record().is_some());
    let dmarc_says = |r: Option<&DmarcResult>| r == Some(&DmarcResult::Pass);
    let passing: Vec<String> = dkim
        .iter()
        .filter(|o| *o.result() == DkimResult::Pass)
        .filter_map(|o| o.signature().map(|s| s.d.to_ascii_lowercase()))
        .collect();
    let dkim_pass = if has_record {
        dmarc_says(dmarc.as_ref().map(|d| d.dkim_result())).then(|| {
            passing
                .iter()
                .find(|d| aligned(d, from_domain))
                .or(passing.first())
                .cloned()
                .unwrap_or_else(|| from_domain.to_string())
        })
    } else {
        passing.iter().find(|d| aligned(d, from_domain)).cloned()
    };
    let spf_passed = spf.as_ref().is_some_and(|s| s.result() == SpfResult::Pass);
    let spf_pass = spf_passed
        && if has_record {
            dmarc_says(dmarc.as_ref().map(|d| d.spf_result()))
        } else {
            aligned(&spf_domain, from_domain)
        };

    let mut said = Vec::new();
    for o in &dkim {
        let d = o.signature().map_or("?", |s| s.d.as_str());
        said.push(format!("dkim={} ({d})", dkim_word(o.result())));
    }
    if dkim.is_empty() {
        said.push("dkim=none".to_string());
    }
    match &spf {
        Some(s) => said.push(format!(
            "spf={} ({spf_domain}, client {})",
            format!("{:?}", s.result()).to_ascii_lowercase(),
            client.ip
        )),
        None => said.push(format!(
            "spf not checked (client {} is not the sender's server)",
            client.ip
        )),
    }
    if let Some(d) = &dmarc {
        said.push(format!("dmarc={}", dmarc_word(&d.result())));
    }
    let summary = said.join("; ");

    let verdict = if let Some(domain) = dkim_pass {
        Verdict::Pass {
            method: Method::Dkim,
            domain,
        }
    } else if spf_pass {
        Verdict::Pass {
            method: Method::Spf,
            domain: spf_domain,
        }
    } else if spf.is_some() {
        Verdict::Fail {
            why: format!("no aligned DKIM or SPF pass for {from_domain} ({summary})"),
        }
    } else if dkim
        .iter()
        .any(|o| o.signature().is_some_and(|s| aligned(&s.d, from_domain)))
    {
        Verdict::Fail {
            why: format!("the DKIM signature of {from_domain} does not verify ({summary})"),
        }
    } else {
        Verdict::Unchecked {
            why: format!("no DKIM signature of {from_domain}, and SPF does not apply ({summary})"),
        }
    };
    Checked { verdict, summary }
}

fn dkim_word(r: &DkimResult) -> String {
    match r {
        DkimResult::Pass => "pass".into(),
        DkimResult::Neutral(e) => format!("neutral: {e}"),
        DkimResult::Fail(e) => format!("fail: {e}"),
        DkimResult::PermError(e) => format!("permerror: {e}"),
        DkimResult::TempError(e) => format!("temperror: {e}"),
        DkimResult::None => "none".into(),
    }
}

fn dmarc_word(r: &DmarcResult) -> String {
    match r {
        DmarcResult::Pass => "pass".into(),
        DmarcResult::Fail(_) => "fail".into(),
        DmarcResult::TempError(e) => format!("temperror: {e}"),
        DmarcResult::PermError(e) => format!("permerror: {e}"),
        DmarcResult::None => "none".into(),
    }
}

/// An address on the public internet: the sender's own server talking to
/// gazette as the MX. Loopback, private, link-local and shared (CGNAT)
/// addresses belong to an MTA or proxy in front.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for ip in [
            "203.0.113.7",
            "8.8.8.8",
            "2001:db8::1",
            "::ffff:198.51.100.2",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.17.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
