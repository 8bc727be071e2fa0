//! `Authentication-Results` (RFC 8601) written by an MTA in front of
//! gazette. Only the topmost such header is read — the one the last hop
//! added — and only when its authserv-id is one the operator named in
//! `GAZETTE_TRUSTED_AUTHSERV_IDS`: anyone can write the header into a
//! message, so one from another host, or further down, proves nothing.

use super::{aligned, Method, Verdict};

/// One `method=result` with its properties (`header.d=example.org`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    pub method: String,
    pub result: String,
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results {
    pub authserv_id: String,
    pub methods: Vec<MethodResult>,
}

/// The topmost `Authentication-Results` of `headers` (in message order),
/// when it comes from one of `trusted`.
pub fn trusted<'a>(
    mut headers: impl Iterator<Item = (&'a str, &'a str)>,
    trusted: &[String],
) -> Option<Results> {
    let (_, raw) = headers.find(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))?;
    let results = parse(raw)?;
    trusted
        .iter()
        .any(|id| id.eq_ignore_ascii_case(&results.authserv_id))
        .then_some(results)
}

/// Parses the value of one header; `None` when it has no authserv-id.
pub fn parse(raw: &str) -> Option<Results> {
    let text = strip_comments(raw);
    let mut parts = split_outside_quotes(&text, ';').into_iter();
    let authserv_id = parts
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let mut methods = Vec::new();
    for part in parts {
        let mut words = split_outside_quotes(part.trim(), ' ')
            .into_iter()
            .flat_map(|w| {
                split_outside_quotes(&w, '\t')
                    .into_iter()
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|w| !w.is_empty());
        let Some((method, result)) = words.next().and_then(|w| {
            w.split_once('=')
                .map(|(m, r)| (m.to_string(), r.to_string()))
        }) else {
            continue;
        };
        let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
        let props = words
            .filter_map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_ascii_lowercase(), unquote(v).to_string()))
            })
            .collect();
        methods.push(MethodResult {
            method,
            result: unquote(&result).to_ascii_lowercase(),
            props,
        });
    }
    Some(Results {
        authserv_id,
        methods,
    })
}

impl Results {
    /// What these results say of mail whose From domain is `from_domain`.
    pub fn verdict(&self, from_domain: &str) -> Verdict {
        let id = &self.authserv_id;
        let passed = |m: &MethodResult| m.result == "pass";
        for m in self.methods.iter().filter(|m| passed(m)) {
            let domain = match m.method.as_str() {
                "dmarc" => m.prop("header.from").unwrap_or(from_domain),
                "dkim" => match m.prop("header.d").or_else(|| m.prop("header.i")) {
                    Some(d) => d.rsplit('@').next().unwrap_or(d),
                    None => continue,
                },
                "spf" => match m.prop("smtp.mailfrom") {
                    Some(s) => s.rsplit('@').next().unwrap_or(s),
                    None => continue,
                },
                _ => continue,
            };
            if aligned(domain, from_domain) {
                let method = match m.method.as_str() {
                    "dmarc" => Method::Dmarc,
                    "dkim" => Method::Dkim,
                    _ => Method::Spf,
                };
                return Verdict::Pass {
                    method,
                    domain: domain.to_ascii_lowercase(),
                };
            }
        }
        let said: Vec<String> = self
            .methods
            .iter()
            .filter(|m| ["dkim", "spf", "dmarc"].contains(&m.method.as_str()))
            .map(|m| format!("{}={}", m.method, m.result))
            .collect();
        if said.is_empty() {
            return Verdict::Unchecked {
                why: format!("{id} reports no DKIM, SPF or DMARC result"),
            };
        }
        Verdict::Fail {
            why: format!(
                "{id} reports {} and nothing that authenticates {from_domain}",
                said.join(" ")
            ),
        }
    }
}

/// The text without RFC 5322 comments (nested parentheses), quotes kept.
fn strip_comments(raw: &str) -> String {
    let (mut out, mut depth, mut quoted, mut escaped) = (String::new(), 0usize, false, false);
    for c in raw.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            '\r' | '\n' => out.push(' '),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let (mut parts, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c == sep && !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GMAIL: &str = " mx.google.com;\r\n       dkim=pass header.i=@example.org header.s=s1 header.b=abc;\r\n       spf=pass (google.com: domain of a@bounce.example.org designates 1.2.3.4 as permitted sender) smtp.mailfrom=a@bounce.example.org;\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org";

    #[test]
    fn parses_real_headers() {
        let r = parse(GMAIL).unwrap();
        assert_eq!(r.authserv_id, "mx.google.com");
        let names: Vec<_> = r.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, ["dkim", "spf", "dmarc"]);
        assert_eq!(r.methods[0].prop("header.i"), Some("@example.org"));
        assert_eq!(
            r.methods[1].prop("smtp.mailfrom"),
            Some("a@bounce.example.org")
        );
        assert_eq!(
            r.verdict("example.org"),
            Verdict::Pass {
                method: Method::Dkim,
                domain: "example.org".into()
            }
        );
        let none = parse("mx.example.net 1; none").unwrap();
        assert_eq!(none.authserv_id, "mx.example.net");
        assert!(matches!(
            none.verdict("example.org"),
            Verdict::Unchecked { .. }
        ));
    }

    #[test]
    fn only_aligned_passes_count() {
        let r = parse("mx.example.net; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=x@evil.example; dmarc=fail header.from=example.org").unwrap();
        match r.verdict("example.org") {
            Verdict::Fail { why } => {
                assert!(
                    why.contains("dmarc=fail") && why.contains("mx.example.net"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        let r = parse("mx.example.net; spf=pass smtp.mailfrom=bounces@mail.example.org").unwrap();
        assert!(matches!(
            r.verdict("example.org"),
            Verdict::Pass {
                method: Method::Spf,
                ..
            }
        ));
    }

    #[test]
    fn only_the_topmost_header_from_a_trusted_host_counts() {
        let ids = vec!["mx.lists.example.org".to_string()];
        let forged = "evil.example; dmarc=pass header.from=example.org";
        let ours = "mx.lists.example.org; dmarc=fail header.from=example.org";
        let top_forged = [
            ("Authentication-Results", forged),
            ("Authentication-Results", ours),
        ];
        assert_eq!(trusted(top_forged.into_iter(), &ids), None);
        let top_ours = [
            ("Received", "x"),
            ("Authentication-Results", ours),
            ("authentication-results", forged),
        ];
        let r = trusted(top_ours.into_iter(), &ids).unwrap();
        assert_eq!(r.authserv_id, "mx.lists.example.org");
        assert!(matches!(r.verdict("example.org"), Verdict::Fail { .. }));
        assert_eq!(trusted(top_ours.into_iter(), &[]), None);
    }
}
