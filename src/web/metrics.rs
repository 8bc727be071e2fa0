//! `/metrics` in the Prometheus text format: this process's counters and
//! histograms (`crate::telemetry`), and two gauges only the database knows,
//! each one indexed lookup: how late the oldest due delivery is, and how
//! many inbound messages wait to be handled. Nothing counts a whole table.
//!
//! The numbers name lists and count members, so they are not for everyone:
//! they are served on their own listener (`GAZETTE_METRICS_ADDR`), or on
//! the public one only to a client with `GAZETTE_METRICS_TOKEN`.

use super::bearer;
use crate::app::Ctx;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub async fn metrics(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let token = ctx.config.metrics_token.expose();
    if !token.is_empty() && !bearer::matches(&headers, token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token (GAZETTE_METRICS_TOKEN)\n",
        )
            .into_response();
    }
    match render(&ctx).await {
        Ok(body) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("# metrics unavailable: {e}\n"),
        )
            .into_response(),
    }
}

/// `/metrics` on the public listener when it is not served there.
pub async fn not_here() -> Response {
    (
        StatusCode::NOT_FOUND,
        "metrics are not served on this listener; set GAZETTE_METRICS_ADDR (a listener of their own) or GAZETTE_METRICS_TOKEN (a bearer token for this one)\n",
    )
        .into_response()
}

async fn render(ctx: &Ctx) -> anyhow::Result<String> {
    let mut out = crate::telemetry::render();
    let now = crate::now_ms();
    let late = ctx
        .store
        .next_due()
        .await?
        .map_or(0.0, |due| (now - due).max(0) as f64 / 1000.0);
    writeln!(
        out,
        "# HELP gazette_outbox_oldest_due_seconds How long the oldest due delivery has been waiting (0 when none is due)."
    )?;
    writeln!(out, "# TYPE gazette_outbox_oldest_due_seconds gauge")?;
    writeln!(out, "gazette_outbox_oldest_due_seconds {late}")?;
    let waiting = ctx.store.unhandled_inbound_count().await?;
    writeln!(
        out,
        "# HELP gazette_inbound_unhandled Inbound messages stored and not handled yet (failures being retried included)."
    )?;
    writeln!(out, "# TYPE gazette_inbound_unhandled gauge")?;
    writeln!(out, "gazette_inbound_unhandled {waiting}")?;
    Ok(out)
}
