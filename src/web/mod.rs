//! The HTTP side: public pages (confirm, one-click unsubscribe, the
//! public archive), the editors' UI under `/admin` ([`admin`]), raw MIME
//! intake, health and metrics, served with connection limits by
//! [`server`].
//!
//! Bodies are limited per route before any handler runs: `/inbound` reads
//! its body only after checking the bearer token ([`inbound`]); every other
//! route takes [`SMALL_BODY`] bytes at most, read in full within the
//! header timeout before the handler sees the request.

pub mod admin;
mod archive;
mod assets;
mod bearer;
mod inbound;
mod metrics;
mod pages;
pub mod server;

use crate::app::Ctx;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tracing::Instrument;

/// The largest body any route but `/inbound` takes (the forms are tiny).
pub const SMALL_BODY: usize = 16 * 1024;

/// The public listener's routes.
pub fn router(ctx: Ctx) -> Router {
    let cfg = &ctx.config;
    let metrics_here = cfg.metrics_addr.is_none() && !cfg.metrics_token.is_empty();
    let metrics = if metrics_here {
        get(metrics::metrics)
    } else {
        get(metrics::not_here)
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/healthz", get(pages::healthz))
        .route("/metrics", metrics)
        .route("/static/admin.css", get(assets::css))
        .route("/static/admin.js", get(assets::js))
        .route(
            "/confirm/{token}",
            get(pages::confirm_page).post(pages::confirm),
        )
        .route("/archive/{list}", get(archive::index))
        .route("/archive/{list}/feed.atom", get(archive::feed))
        .route("/archive/{list}/{id}", get(archive::question))
        .merge(admin::routes())
        .route(
            "/unsubscribe/{token}",
            get(pages::unsubscribe_page).post(pages::unsubscribe),
        )
        .route("/unsubscribe/{token}/mode", post(pages::change_mode))
        .route(
            "/reactivate/{token}",
            get(pages::reactivate_page).post(pages::reactivate),
        )
        // Applies to the routes above, not to `/inbound` added below.
        .layer(from_fn_with_state(ctx.clone(), small_body))
        .route("/inbound", post(inbound::inbound))
        .merge(admin::upload_routes())
        .layer(from_fn(trace))
        .with_state(ctx)
}

/// The public archive of `list` (whether or not it is on).
pub fn archive_url(list: &crate::app::List) -> String {
    format!("{}/archive/{}", list.base_url(), list.posting())
}

/// A question's page in the public archive.
pub fn question_url(list: &crate::app::List, question_id: i64) -> String {
    format!("{}/{question_id}", archive_url(list))
}

/// The routes of the metrics listener (`GAZETTE_METRICS_ADDR`).
pub fn metrics_router(ctx: Ctx) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(pages::healthz))
        .layer(from_fn_with_state(ctx.clone(), small_body))
        .layer(from_fn(trace))
        .with_state(ctx)
}

/// Reads a request's body (at most [`SMALL_BODY`] bytes, within the header
/// timeout) before the handler runs, so no handler waits on a slow client
/// or buffers a large body.
async fn small_body(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let refuse = |status: StatusCode, text: &str| {
        (status, [(header::CONNECTION, "close")], text.to_string()).into_response()
    };
    let too_big = format!("request body too large; at most {SMALL_BODY} bytes here\n");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > SMALL_BODY as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, &too_big);
    }
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, SMALL_BODY);
    match tokio::time::timeout(ctx.config.http_header_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => refuse(StatusCode::PAYLOAD_TOO_LARGE, &too_big),
        Err(_) => refuse(StatusCode::REQUEST_TIMEOUT, "the body took too long\n"),
    }
}

/// A tracing span per request. Tokens in paths are secrets: only the
/// route's first segment is logged.
async fn trace(req: Request, next: Next) -> Response {
    let shown: String = req
        .uri()
        .path()
        .splitn(3, '/')
        .take(2)
        .collect::<Vec<_>>()
        .join("/");
    let span = tracing::info_span!("http", method = %req.method(), path = %shown);
    async move {
        let res = next.run(req).await;
        tracing::debug!(status = res.status().as_u16(), "response");
        res
    }
    .instrument(span)
    .await
}
