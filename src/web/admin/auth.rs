//! Who is asking, and may they: the session cookie (HttpOnly, SameSite=Lax,
//! Secure when `GAZETTE_BASE_URL` is https), the editor it belongs to, and
//! the checks every state-changing request passes — same origin (Origin /
//! Sec-Fetch-Site) and the session's form token.

use super::pages::{message, Chrome};
use crate::app::{Ctx, List};
use crate::editors::{self, Editor};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub const COOKIE: &str = "gazette_session";
pub const SIGN_IN: &str = "/admin/sign-in";

/// The signed-in editor; without a session, a redirect to sign in.
pub struct Signed(pub Editor);

impl FromRequestParts<Ctx> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Response> {
        let Some(cookie) = cookie(&parts.headers, COOKIE) else {
            return Err(to_sign_in());
        };
        match editors::session(ctx, &cookie).await {
            Ok(Some(editor)) => Ok(Signed(editor)),
            Ok(None) => Err(to_sign_in()),
            Err(e) => Err(super::pages::failed(e)),
        }
    }
}

/// `302 Found` to the sign-in page.
pub fn to_sign_in() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, SIGN_IN)]).into_response()
}

/// A posted form's fields, in order (names may repeat).
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn id(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }
}

/// A state-changing request from a signed-in editor: same origin, with
/// the session's form token.
pub struct Posted(pub Editor, pub Form);

impl FromRequest<Ctx> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, ctx: &Ctx) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Signed(editor) = Signed::from_request_parts(&mut parts, ctx).await?;
        if !same_origin(&parts.headers, &ctx.config.base_url) {
            return Err(cross_site());
        }
        let bytes = axum::body::to_bytes(body, crate::web::SMALL_BODY)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response())?;
        let form = Form::parse(&bytes);
        if !token_matches(form.get("_token"), &editor.form_token) {
            return Err(stale_form());
        }
        Ok(Posted(editor, form))
    }
}

/// A form posted without a session (signing in): same origin only.
pub struct PublicForm(pub Form);

impl FromRequest<Ctx> for PublicForm {
    type Rejection = Response;

    async fn from_request(req: Request, ctx: &Ctx) -> Result<Self, Response> {
        if !same_origin(req.headers(), &ctx.config.base_url) {
            return Err(cross_site());
        }
        let bytes = axum::body::to_bytes(req.into_body(), crate::web::SMALL_BODY)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response())?;
        Ok(PublicForm(Form::parse(&bytes)))
    }
}

pub fn token_matches(given: Option<&str>, expected: &str) -> bool {
    let given = given.unwrap_or("").as_bytes();
    let expected = expected.as_bytes();
    // Constant time: the comparison does not stop at the first difference.
    given.len() == expected.len()
        && !expected.is_empty()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn cross_site() -> Response {
    message(
        StatusCode::FORBIDDEN,
        Chrome::public("Refused"),
        "Refused",
        "This form was sent from another site, so it was not acted on. Open the page in gazette itself and try again.",
    )
}

fn stale_form() -> Response {
    message(
        StatusCode::FORBIDDEN,
        Chrome::public("Out of date"),
        "This form is out of date",
        "Nothing was changed: the page was opened before you last signed in. Go back, reload the page and try again.",
    )
}

/// The request comes from a page of ours: `Sec-Fetch-Site` (when the
/// browser sends it) says same-origin, and `Origin` (when sent) is
/// `GAZETTE_BASE_URL`'s or the origin the request was addressed to.
pub fn same_origin(headers: &HeaderMap, base_url: &str) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = get("origin") else {
        return true; // not a browser, or an old one: the form token decides
    };
    let base = origin_of(base_url);
    let host = get("host").unwrap_or("");
    origin.eq_ignore_ascii_case(&base)
        || origin.eq_ignore_ascii_case(&format!("http://{host}"))
        || origin.eq_ignore_ascii_case(&format!("https://{host}"))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value for a new session (or `None` to end it).
pub fn session_cookie(ctx: &Ctx, value: Option<&str>) -> String {
    let secure = if ctx.config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    match value {
        Some(v) => format!(
            "{COOKIE}={v}; Path=/admin; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            editors::SESSION_MS / 1000
        ),
        None => format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// The list at `address` if `editor` edits it; otherwise 404, the same
/// answer as for a list that does not exist.
pub async fn list_for(ctx: &Ctx, editor: &Editor, address: &str) -> Result<List, Response> {
    let row = ctx
        .store
        .list_by_address(&address.trim().to_ascii_lowercase())
        .await
        .map_err(|e| super::pages::failed(e.into()))?;
    match row {
        Some(r) if editor.edits(r.id) => Ok(ctx.list(r)),
        _ => Err(super::pages::not_found(editor)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h, "https://g.example.org"));
        h.insert("origin", "https://g.example.org".parse().unwrap());
        assert!(same_origin(&h, "https://g.example.org/"));
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h, "https://g.example.org"));
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h, "https://g.example.org"));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h, "https://g.example.org"));
        assert!(token_matches(Some("abc"), "abc"));
        assert!(!token_matches(Some("abd"), "abc"));
        assert!(!token_matches(None, "abc"));
        assert!(!token_matches(Some(""), ""));
    }
}
