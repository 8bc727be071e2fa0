//! The editors' stylesheet and script, served by gazette itself (no CDN,
//! no build step), compiled into the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../static/admin.css");
const JS: &str = include_str!("../../static/admin.js");

pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

pub async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        JS,
    )
        .into_response()
}
