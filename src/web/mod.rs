//! The HTTP side: public pages (confirm, one-click unsubscribe), raw MIME
//! intake, health and metrics. The editor UI lands under `/admin/`.

mod metrics;
mod pages;

use crate::app::Ctx;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tracing::Instrument;

pub fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/healthz", get(pages::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/confirm/{token}", get(pages::confirm))
        .route(
            "/unsubscribe/{token}",
            get(pages::unsubscribe_page).post(pages::unsubscribe),
        )
        .route("/unsubscribe/{token}/mode", post(pages::change_mode))
        // Raw MIME up to the configured message size, not axum's 2 MB default.
        .route(
            "/inbound",
            post(pages::inbound).layer(DefaultBodyLimit::max(ctx.config.max_message_bytes + 1)),
        )
        .layer(from_fn(trace))
        .with_state(ctx)
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
