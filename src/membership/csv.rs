//! Members as CSV (RFC 4180, through the `csv` crate), streamed both ways:
//! an import reads one row at a time, an export writes one page of members
//! at a time, so neither holds a whole file or a whole list in memory.
//!
//! Export: `email,name,status,mode`. Import: the columns found by a header
//! row (any order; the usual spreadsheet names such as `Email Address`,
//! `First Name`/`Last Name` are understood; `status` and unknown columns
//! are ignored), or `email[,name[,mode]]` without one. An export imports
//! back unchanged.
//!
//! Names come from mail, so anyone can choose theirs: a field that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
//! tab or CR) is written with a leading `'`, which the import removes.

use super::{enroll, invite, Enrolled, Enrollment, Invited};
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::store::DeliveryMode;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// Members an export reads from the store at once.
const EXPORT_PAGE: i64 = 500;

/// One usable row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line it starts on (1 is the first line of the file).
    pub line: u64,
    pub email: EmailAddress,
    pub name: String,
    pub mode: Option<DeliveryMode>,
}

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub why: String,
}

/// Where each field is in a row.
#[derive(Debug, Clone)]
struct Columns {
    email: usize,
    name: Option<usize>,
    first: Option<usize>,
    last: Option<usize>,
    mode: Option<usize>,
}

const EMAIL_HEADERS: &[&str] = &[
    "email",
    "emailaddress",
    "mail",
    "address",
    "emailaddr",
    "primaryemail",
];
const NAME_HEADERS: &[&str] = &["name", "fullname", "displayname", "membername"];
const FIRST_HEADERS: &[&str] = &["firstname", "givenname", "first", "forename"];
const LAST_HEADERS: &[&str] = &["lastname", "surname", "familyname", "last"];
const MODE_HEADERS: &[&str] = &["mode", "deliverymode", "delivery"];

impl Columns {
    const POSITIONAL: Columns = Columns {
        email: 0,
        name: Some(1),
        first: None,
        last: None,
        mode: Some(2),
    };

    /// From a header row; `Err` when it names no email column.
    fn from_header(fields: &csv::StringRecord) -> Result<Columns, String> {
        // "E-mail Address" and "email_address" both become "emailaddress".
        let keys: Vec<String> = fields
            .iter()
            .map(|f| {
                f.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .to_lowercase()
            })
            .collect();
        let find = |names: &[&str]| keys.iter().position(|k| names.contains(&k.as_str()));
        let Some(email) = find(EMAIL_HEADERS) else {
            let got: Vec<&str> = fields.iter().collect();
            return Err(format!(
                "the first line looks like a header, but none of its columns ({}) is an email address; name that column `email` (`Email Address`, `E-mail` and `Mail` are understood too), or leave the header out and put the address first",
                got.join(", ")
            ));
        };
        Ok(Columns {
            email,
            name: find(NAME_HEADERS),
            first: find(FIRST_HEADERS),
            last: find(LAST_HEADERS),
            mode: find(MODE_HEADERS),
        })
    }

    fn row(&self, line: u64, r: &csv::StringRecord) -> Result<Option<Row>, RowError> {
        let get = |i: Option<usize>| {
            i.and_then(|i| r.get(i))
                .map(|f| restore(f).trim().to_string())
                .unwrap_or_default()
        };
        let address = get(Some(self.email));
        if address.is_empty() {
            return Ok(None); // a blank line, or a row without an address
        }
        let fail = |why: String| RowError { line, why };
        let email = EmailAddress::parse(&address).map_err(|e| fail(e.to_string()))?;
        let name = match self.name {
            Some(_) => get(self.name),
            None => [get(self.first), get(self.last)]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mode = Some(get(self.mode))
            .filter(|m| !m.is_empty())
            .map(|m| super::parse_mode(&m).map_err(|e| fail(e.to_string())))
            .transpose()?;
        Ok(Some(Row {
            line,
            email,
            name,
            mode,
        }))
    }
}

/// The rows of a CSV file, read as they are needed.
pub struct Rows<R: Read> {
    reader: csv::Reader<Tap<R>>,
    columns: Columns,
    /// The first record, when it turned out to be data, not a header.
    first: Option<csv::StringRecord>,
    lines: Arc<Mutex<Lines>>,
}

/// Line numbers, counted here because the `csv` crate's own count is off
/// after blank lines and lone CRs, and a person fixing row 4,812 of a
/// spreadsheet needs the right one. The reader keeps the bytes it has
/// read but not yet counted (a record plus the csv crate's read-ahead).
#[derive(Debug)]
struct Lines {
    pending: VecDeque<u8>,
    /// Byte offset of `pending[0]` in the input.
    offset: u64,
    /// Line number at `offset` (1-based).
    line: u64,
    after_cr: bool,
}

impl Lines {
    /// The line of the first byte at or after `start` that is not a line
    /// break: where the record the csv crate says starts at `start`
    /// (before the blank lines it skipped) really is.
    fn of_record(&mut self, start: u64) -> u64 {
        while self.offset < start
            || self
                .pending
                .front()
                .is_some_and(|b| *b == b'\r' || *b == b'\n')
        {
            let Some(b) = self.pending.pop_front() else {
                break;
            };
            self.offset += 1;
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.line += 1,
                b'\r' => {
                    self.line += 1;
                    self.after_cr = true;
                }
                _ => self.after_cr = false,
            }
        }
        self.line
    }
}

/// The input, with every byte read also kept for [`Lines`].
struct Tap<R> {
    inner: R,
    lines: Arc<Mutex<Lines>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines
            .lock()
            .expect("line counter lock")
            .pending
            .extend(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Rows<R> {
    /// Reads the first record to learn the layout. `Err` when the file
    /// cannot be used at all (a header naming no email column, unreadable
    /// first line); one bad row later is a [`RowError`], not an `Err`.
    pub fn new(input: R) -> anyhow::Result<Rows<R>> {
        let lines = Arc::new(Mutex::new(Lines {
            pending: VecDeque::new(),
            offset: 0,
            line: 1,
            after_cr: false,
        }));
        let tap = Tap {
            inner: input,
            lines: lines.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(tap);
        let mut first = csv::StringRecord::new();
        if !reader
            .read_record(&mut first)
            .map_err(|e| anyhow::anyhow!("cannot read the first line: {e}"))?
        {
            return Ok(Rows {
                reader,
                columns: Columns::POSITIONAL,
                first: None,
                lines,
            });
        }
        // A first line with an address in it is data; otherwise a header.
        let is_data = first
            .iter()
            .any(|f| EmailAddress::parse(&restore(f)).is_ok());
        if is_data {
            return Ok(Rows {
                reader,
                columns: Columns::POSITIONAL,
                first: Some(first),
                lines,
            });
        }
        let columns = Columns::from_header(&first).map_err(|e| anyhow::anyhow!(e))?;
        Ok(Rows {
            reader,
            columns,
            first: None,
            lines,
        })
    }
}

impl<R: Read> Iterator for Rows<R> {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let record = match self.first.take() {
                Some(r) => r,
                None => {
                    let mut r = csv::StringRecord::new();
                    match self.reader.read_record(&mut r) {
                        Ok(true) => r,
                        Ok(false) => return None,
                        Err(e) => {
                            let start = e.position().map_or(0, |p| p.byte());
                            let line = self
                                .lines
                                .lock()
                                .expect("line counter lock")
                                .of_record(start);
                            let why = match e.kind() {
                                csv::ErrorKind::Utf8 { .. } => {
                                    "the line is not UTF-8 text; save the file as UTF-8 CSV".into()
                                }
                                _ => e.to_string(),
                            };
                            return Some(Err(RowError { line, why }));
                        }
                    }
                }
            };
            let start = record.position().map_or(0, |p| p.byte());
            let line = self
                .lines
                .lock()
                .expect("line counter lock")
                .of_record(start);
            match self.columns.row(line, &record) {
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// How an import treats the people in it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Also bring back (or ask again) people who left or were disabled.
    pub resubscribe: bool,
    /// `Some(reason)`: they agreed elsewhere (the reason is recorded with
    /// each member, with the time): added as active members, no mail.
    /// `None`: each new address is sent a confirmation request.
    pub confirmed: Option<String>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// New active members (with `confirmed`), or pending ones made active.
    pub added: usize,
    /// Sent a confirmation request (without `confirmed`).
    pub invited: usize,
    /// Already active; their name or mode was updated where given.
    pub updated: usize,
    /// (line number, why) for every row left out.
    pub skipped: Vec<(u64, String)>,
}

/// Imports every row of `input` (see [`ImportOptions`]): a bad row is
/// reported and skipped, never fatal; people who left are skipped unless
/// `resubscribe`.
pub async fn import(
    ctx: &Ctx,
    list: &List,
    input: impl Read,
    options: &ImportOptions,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let consent = options
        .confirmed
        .as_deref()
        .map(|reason| format!("imported with this reason: {}", reason.trim()));
    let cause = format!("import:{}", crate::now_ms());
    for row in Rows::new(input)? {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                report.skipped.push((e.line, e.why));
                continue;
            }
        };
        let how = Enrollment {
            name: &row.name,
            mode: row.mode,
            resubscribe: options.resubscribe,
            consent: consent.as_deref().unwrap_or(""),
        };
        if consent.is_some() {
            match enroll(ctx, list, &row.email, &how).await? {
                Enrolled::Added(_) => report.added += 1,
                Enrolled::Updated(_) => report.updated += 1,
                Enrolled::Skipped(m) => report.skipped.push((row.line, left(&m))),
            }
        } else {
            match invite(ctx, list, &row.email, &how, &cause).await? {
                Invited::Asked(_) => report.invited += 1,
                Invited::Updated(_) => report.updated += 1,
                Invited::Skipped(m) if m.status == crate::store::MemberStatus::Pending => {
                    report.skipped.push((
                        row.line,
                        format!(
                            "{} was sent a confirmation request within the hour; not asked again",
                            m.email
                        ),
                    ))
                }
                Invited::Skipped(m) => report.skipped.push((row.line, left(&m))),
            }
        }
    }
    Ok(report)
}

fn left(m: &crate::store::members::MemberRow) -> String {
    format!(
        "{} is {}; pass --resubscribe to add them back",
        m.email, m.status
    )
}

/// Writes every member of `list` (whatever their status) as CSV, a page of
/// members at a time.
pub async fn export(ctx: &Ctx, list: &List, out: impl Write) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["email", "name", "status", "mode"])?;
    let mut after = String::new();
    loop {
        let page = ctx
            .store
            .members_page(list.id(), &after, EXPORT_PAGE)
            .await?;
        for m in &page {
            w.write_record([
                &*neutralise(&m.email),
                &*neutralise(m.name.trim()),
                m.status.as_str(),
                m.mode.as_str(),
            ])?;
        }
        match page.last() {
            Some(m) if page.len() as i64 == EXPORT_PAGE => after = m.email.to_lowercase(),
            _ => break,
        }
        w.flush()?;
    }
    w.flush()?;
    Ok(())
}

/// Characters that make a spreadsheet cell a formula (OWASP's list).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A formula, or a formula already behind quotes: the fields that get (or
/// got) one more `'`, which keeps the round trip exact.
fn formula_like(field: &str) -> bool {
    field.trim_start_matches('\'').starts_with(FORMULA_START)
}

/// A field a spreadsheet would run as a formula, made inert with `'`.
fn neutralise(field: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(field) {
        format!("'{field}").into()
    } else {
        field.into()
    }
}

/// The inverse of [`neutralise`], applied to every imported field.
fn restore(field: &str) -> String {
    match field.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest.to_string(),
        _ => field.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Result<Row, RowError>> {
        Rows::new(text.as_bytes()).unwrap().collect()
    }

    fn ok(r: &Result<Row, RowError>) -> (&str, &str, Option<DeliveryMode>) {
        let r = r.as_ref().unwrap();
        (r.email.as_str(), r.name.as_str(), r.mode)
    }

    #[test]
    fn reads_an_export_back() {
        let text = "email,name,status,mode\njd@example.org,\"Doe, Jane \"\"JD\"\"\",active,every\n";
        let got = rows(text);
        assert_eq!(got.len(), 1);
        assert_eq!(
            ok(&got[0]),
            (
                "jd@example.org",
                "Doe, Jane \"JD\"",
                Some(DeliveryMode::Every)
            )
        );
        assert_eq!(got[0].as_ref().unwrap().line, 2);
    }

    #[test]
    fn understands_spreadsheet_headers() {
        let got = rows("First Name,Last Name,E-mail Address\nAda,Lovelace,ada@example.org\n");
        assert_eq!(ok(&got[0]), ("ada@example.org", "Ada Lovelace", None));
        let got = rows("\u{feff}Email Address,Full Name\nbo@example.org,Bo\n");
        assert_eq!(ok(&got[0]), ("bo@example.org", "Bo", None));
    }

    #[test]
    fn a_header_without_an_address_column_says_what_it_expects() {
        let err = Rows::new("Nom,Courriel\nAda,ada@example.org\n".as_bytes())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("Nom, Courriel") && err.contains("`email`"),
            "{err}"
        );
    }

    #[test]
    fn headerless_rows_and_bad_rows_with_their_lines() {
        let got = rows(
            "a@x.org\r\n\r\nbad@@x\nb@x.org,B,carrier-pigeon\n\"c@x.org\",\"C\nD\",paused\r\re@x.org\n",
        );
        assert_eq!(ok(&got[0]), ("a@x.org", "", None));
        assert_eq!(got[1].as_ref().unwrap_err().line, 3);
        let e = got[2].as_ref().unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.why.contains("carrier-pigeon"), "{}", e.why);
        assert_eq!(ok(&got[3]), ("c@x.org", "C\nD", Some(DeliveryMode::Paused)));
        assert_eq!(got[3].as_ref().unwrap().line, 5);
        assert_eq!(
            got[4].as_ref().unwrap().line,
            8,
            "after a quoted line break and a blank CR line"
        );
    }

    #[test]
    fn formulas_are_neutralised_and_restored() {
        for name in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "plain",
            "'quoted",
            "'=still text",
            "''=",
        ] {
            let out = neutralise(name);
            assert!(!out.starts_with(FORMULA_START), "{out}");
            assert_eq!(restore(&out), name);
        }
    }

    /// Random CSV-ish text never panics, and any fields written by the
    /// writer read back as they were.
    #[test]
    fn fuzz_rows_and_round_trip() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            "a", ",", "\"", "\"\"", "\n", "\r\n", " ", "\u{e9}", "x@y.org", "\r", "=", "'",
        ];
        for _ in 0..3000 {
            let len = (next() % 30) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            if let Ok(r) = Rows::new(text.as_bytes()) {
                let _ = r.count();
            }
            let name: String = (0..next() % 6)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["m@example.org", &*neutralise(name.trim())])
                .unwrap();
            let bytes = w.into_inner().unwrap();
            let got: Vec<_> = Rows::new(&bytes[..]).unwrap().collect();
            assert_eq!(got.len(), 1, "{name:?}");
            assert_eq!(got[0].as_ref().unwrap().name, name.trim(), "{name:?}");
        }
    }
}
