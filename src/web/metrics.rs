//! `/metrics` in the Prometheus text format, read from the store so every
//! worker reports the same, shared numbers.
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
    let mut out = String::new();
    writeln!(
        out,
        "# HELP gazette_outbox_messages Outbox rows by kind and status."
    )?;
    writeln!(out, "# TYPE gazette_outbox_messages gauge")?;
    for (kind, status, n) in ctx.store.outbox_counts().await? {
        writeln!(
            out,
            "gazette_outbox_messages{{kind=\"{kind}\",status=\"{status}\"}} {n}"
        )?;
    }
    writeln!(
        out,
        "# HELP gazette_inbound_messages Inbound messages by outcome."
    )?;
    writeln!(out, "# TYPE gazette_inbound_messages gauge")?;
    for (status, n) in ctx.store.inbound_counts().await? {
        writeln!(out, "gazette_inbound_messages{{status=\"{status}\"}} {n}")?;
    }
    writeln!(out, "# HELP gazette_members Members by list and status.")?;
    writeln!(out, "# TYPE gazette_members gauge")?;
    for list in ctx.store.lists().await? {
        for (status, n) in ctx.store.member_counts(list.id).await? {
            writeln!(
                out,
                "gazette_members{{list=\"{}\",status=\"{status}\"}} {n}",
                list.address
            )?;
        }
    }
    Ok(out)
}
