//! Importing members from CSV in two steps: the file is read and shown
//! (the first rows as understood, and every row's error with its line)
//! before anything is written; only the second step, with the editor's
//! choice of asking each new address to confirm or recording why they may
//! be mailed, imports.
//!
//! The upload is the one request with a larger body ([`MAX_UPLOAD`]); it
//! is read only after the session, origin and form token are checked.

use super::auth::{list_for, same_origin, token_matches, Form, Signed};
use super::pages::{failed, render, Chrome};
use crate::app::Ctx;
use crate::membership::csv::{import, ImportOptions, Row, RowError, Rows};
use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The largest CSV file (or pasted text) an import takes.
pub const MAX_UPLOAD: usize = 4 * 1024 * 1024;
/// Rows shown in the preview.
const SHOWN: usize = 20;

#[derive(Template)]
#[template(path = "web/admin/import.html")]
struct ImportPage {
    chrome: Chrome,
    address: String,
    /// After reading a file: what it holds.
    preview: Option<Preview>,
    confirmed: bool,
    reason: String,
    /// After importing: what happened.
    report: Option<Report>,
}

struct Preview {
    csv: String,
    rows: Vec<Row>,
    good: usize,
    errors: Vec<RowError>,
    /// The file could not be used at all (say, no address column).
    fatal: String,
}

struct Report {
    added: usize,
    invited: usize,
    updated: usize,
    skipped: Vec<(u64, String)>,
}

pub async fn form(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    render(
        StatusCode::OK,
        &ImportPage {
            chrome: Chrome::list("Import members", &editor, &list, "members", &ctx).await,
            address: list.posting(),
            preview: None,
            confirmed: false,
            reason: String::new(),
            report: None,
        },
    )
}

/// Both steps: `step=preview` (a file upload or pasted text) shows what
/// would be imported; `step=import` imports.
pub async fn post(State(ctx): State<Ctx>, Path(address): Path<String>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let editor = match Signed::from_request_parts(&mut parts, &ctx).await {
        Ok(Signed(e)) => e,
        Err(r) => return r,
    };
    if !same_origin(&parts.headers, &ctx.config.base_url) {
        return (
            StatusCode::FORBIDDEN,
            "refused: this form was sent from another site\n",
        )
            .into_response();
    }
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = match read(body, ctx.config.http_header_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form = match boundary(&content_type) {
        Some(b) => multipart(&bytes, &b),
        None => Form::parse(&bytes),
    };
    if !token_matches(form.get("_token"), &editor.form_token) {
        return (
            StatusCode::FORBIDDEN,
            "refused: the form is out of date; reload the page\n",
        )
            .into_response();
    }
    let mut csv = form.text("file");
    if csv.trim().is_empty() {
        csv = form.text("csv");
    }
    let confirmed = form.get("how") == Some("confirmed");
    let reason = form.text("reason");
    let chrome = Chrome::list("Import members", &editor, &list, "members", &ctx).await;
    let mut page = ImportPage {
        chrome,
        address: list.posting(),
        preview: None,
        confirmed,
        reason: reason.clone(),
        report: None,
    };
    if form.get("step") == Some("import") {
        if confirmed && reason.trim().is_empty() {
            page.chrome = page.chrome.with_problem("Say why these people may be mailed without confirming, or choose to send them confirmation requests. Nothing was imported.");
            page.preview = Some(preview(csv));
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        let options = ImportOptions {
            resubscribe: false,
            confirmed: confirmed
                .then(|| format!("{} (imported by editor {})", reason.trim(), editor.email)),
        };
        return match import(&ctx, &list, csv.as_bytes(), &options).await {
            Ok(r) => {
                tracing::info!(editor = %editor.email, added = r.added, invited = r.invited, "members imported");
                page.report = Some(Report {
                    added: r.added,
                    invited: r.invited,
                    updated: r.updated,
                    skipped: r.skipped,
                });
                render(StatusCode::OK, &page)
            }
            Err(e) => failed(e),
        };
    }
    page.preview = Some(preview(csv));
    render(StatusCode::OK, &page)
}

/// Reads the file without writing anything.
fn preview(csv: String) -> Preview {
    let mut p = Preview {
        csv: String::new(),
        rows: Vec::new(),
        good: 0,
        errors: Vec::new(),
        fatal: String::new(),
    };
    match Rows::new(csv.as_bytes()) {
        Ok(rows) => {
            for r in rows {
                match r {
                    Ok(row) => {
                        p.good += 1;
                        if p.rows.len() < SHOWN {
                            p.rows.push(row);
                        }
                    }
                    Err(e) => p.errors.push(e),
                }
            }
        }
        Err(e) => p.fatal = e.to_string(),
    }
    if csv.trim().is_empty() {
        p.fatal = "The file is empty. Choose a CSV file, or paste its text.".into();
    }
    p.csv = csv;
    p
}

async fn read(body: Body, timeout: std::time::Duration) -> Result<Vec<u8>, Response> {
    let too_big = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the file is too large; at most {} MB at once — split it\n",
                MAX_UPLOAD >> 20
            ),
        )
            .into_response()
    };
    // A large file takes longer than a form: a few times the header timeout.
    match tokio::time::timeout(timeout * 6, axum::body::to_bytes(body, MAX_UPLOAD)).await {
        Ok(Ok(b)) => Ok(b.to_vec()),
        Ok(Err(_)) => Err(too_big()),
        Err(_) => Err((StatusCode::REQUEST_TIMEOUT, "the upload took too long\n").into_response()),
    }
}

fn boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.starts_with("multipart/form-data") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The fields of a `multipart/form-data` body (RFC 7578), files as text.
fn multipart(body: &[u8], boundary: &str) -> Form {
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut fields = Vec::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .and_then(|l| {
                l.split(';').find_map(|p| {
                    let (k, v) = p.trim().split_once('=')?;
                    (k == "name").then(|| v.trim_matches('"').to_string())
                })
            });
        if let Some(name) = name {
            fields.push((name, value.to_string()));
        }
    }
    Form(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multipart_fields_and_files() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"_token\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.csv\"\r\nContent-Type: text/csv\r\n\r\nemail\r\na@x.org\r\n\r\n--XyZ--\r\n";
        let f = multipart(body.as_bytes(), "XyZ");
        assert_eq!(f.get("_token"), Some("abc"));
        assert_eq!(f.get("file"), Some("email\r\na@x.org\r\n"));
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }
}
