//! Members as CSV, for import and export: `email,name,status,mode` out;
//! in, the same columns found by a header row (any order, `status` and
//! unknown columns ignored), or `email[,name[,mode]]` without one. Fields
//! may be quoted (RFC 4180), so a name like "Doe, Jane" survives the round
//! trip, and an export imports back unchanged.

use super::{enroll, Enrolled};
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use std::io::Write;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// New members, or pending ones made active.
    pub added: usize,
    /// Already active; their name or mode was updated where given.
    pub updated: usize,
    /// (line number, why) for every row left out.
    pub skipped: Vec<(usize, String)>,
}

/// Where each field is in a row.
struct Columns {
    email: usize,
    name: Option<usize>,
    mode: Option<usize>,
}

impl Columns {
    /// From a header row, if the first record is one.
    fn from_header(fields: &[String]) -> Option<Columns> {
        let find = |want: &str| {
            fields
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case(want))
        };
        Some(Columns {
            email: find("email")?,
            name: find("name"),
            mode: find("mode"),
        })
    }

    const POSITIONAL: Columns = Columns {
        email: 0,
        name: Some(1),
        mode: Some(2),
    };
}

/// Enrolls every row of `text` (see [`enroll`]): a bad row is reported
/// and skipped, never fatal; people who left are skipped unless
/// `resubscribe`.
pub async fn import(
    ctx: &Ctx,
    list: &List,
    text: &str,
    resubscribe: bool,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut rows = records(text).into_iter().peekable();
    let header = rows.peek().and_then(|(_, f)| Columns::from_header(f));
    let columns = match header {
        Some(c) => {
            rows.next();
            c
        }
        None => Columns::POSITIONAL,
    };
    for (n, fields) in rows {
        let get = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|f| f.trim())
                .unwrap_or("")
        };
        let address = get(Some(columns.email));
        if address.is_empty() {
            continue;
        }
        let email = match EmailAddress::parse(address) {
            Ok(e) => e,
            Err(e) => {
                report.skipped.push((n, e.to_string()));
                continue;
            }
        };
        let mode = match Some(get(columns.mode)).filter(|m| !m.is_empty()) {
            Some(text) => match super::parse_mode(text) {
                Ok(mode) => Some(mode),
                Err(e) => {
                    report.skipped.push((n, e.to_string()));
                    continue;
                }
            },
            None => None,
        };
        match enroll(ctx, list, &email, get(columns.name), mode, resubscribe).await {
            Ok(Enrolled::Added(_)) => report.added += 1,
            Ok(Enrolled::Updated(_)) => report.updated += 1,
            Ok(Enrolled::Skipped(m)) => report.skipped.push((
                n,
                format!(
                    "{} is {}; pass --resubscribe to add them back",
                    m.email, m.status
                ),
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Writes every member of `list` (whatever their status) as CSV.
pub async fn export(ctx: &Ctx, list: &List, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "email,name,status,mode")?;
    for m in ctx.store.members(list.id()).await? {
        writeln!(
            out,
            "{},{},{},{}",
            field(&m.email),
            field(&m.name),
            m.status,
            m.mode
        )?;
    }
    Ok(())
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Splits CSV text into records of fields, each with the line it starts on.
/// Quoted fields may hold commas, doubled quotes and line breaks.
fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut fields, mut cur) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted, mut any) = (1, 1, false, false);
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
                any = true;
            }
            ',' if !quoted => {
                fields.push(std::mem::take(&mut cur));
                any = true;
            }
            '\n' | '\r' if !quoted => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                if any || !cur.is_empty() {
                    fields.push(std::mem::take(&mut cur));
                    out.push((start, std::mem::take(&mut fields)));
                }
                any = false;
                line += 1;
                start = line;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                cur.push(c);
                any = true;
            }
        }
    }
    if any || !cur.is_empty() {
        fields.push(cur);
        out.push((start, fields));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_round_trip() {
        let name = "Doe, Jane \"JD\"";
        let line = format!("jd@example.org,{},active,digest\n", field(name));
        let recs = records(&format!("email,name,status,mode\n{line}"));
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].0, 2);
        assert_eq!(recs[1].1, vec!["jd@example.org", name, "active", "digest"]);
    }

    /// Random CSV-ish text never panics, and any list of fields written
    /// with `field` reads back as it was.
    #[test]
    fn fuzz_records_and_round_trip() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            "a", ",", "\"", "\"\"", "\n", "\r\n", " ", "\u{e9}", "x@y.org", "\r",
        ];
        for _ in 0..3000 {
            let len = (next() % 30) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let _ = records(&text);
            let fields: Vec<String> = (0..1 + next() % 4)
                .map(|_| {
                    let n = (next() % 6) as usize;
                    (0..n)
                        .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                        .collect::<String>()
                })
                .collect();
            if fields.iter().all(|f| f.is_empty()) {
                continue; // an empty line is no record
            }
            let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
            let got = records(&line.join(","));
            assert_eq!(got.len(), 1, "{line:?}");
            assert_eq!(got[0].1, fields, "{line:?}");
        }
    }

    #[test]
    fn line_numbers_blank_lines_and_crlf() {
        let recs = records("\u{feff}a@x.org\r\n\r\nb@x.org,\"multi\nline\"\nc@x.org");
        let starts: Vec<usize> = recs.iter().map(|r| r.0).collect();
        assert_eq!(starts, vec![1, 3, 5]);
        assert_eq!(recs[1].1, vec!["b@x.org", "multi\nline"]);
        assert_eq!(recs[2].1, vec!["c@x.org"]);
    }
}
