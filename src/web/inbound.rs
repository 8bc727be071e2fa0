//! `POST /inbound`: raw MIME over HTTP, for MTAs and services that deliver
//! by webhook, authenticated with the shared secret
//! `GAZETTE_INBOUND_SECRET` as a bearer token.
//!
//! Nothing of the body is read until the client has shown the secret:
//! with the endpoint off, or a wrong token, the answer comes at once and
//! the connection is closed, so unauthenticated clients cost no memory.
//! An authenticated body is read up to the message size limit, within
//! [`BODY_TIME`].

use super::bearer;
use crate::app::Ctx;
use crate::inbound::{receive, InboundError, Incoming};
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Duration;

/// The longest a body may take to arrive (as for an SMTP DATA body).
pub const BODY_TIME: Duration = Duration::from_secs(600);

#[derive(Deserialize)]
struct InboundQuery {
    recipient: String,
    /// The envelope sender; empty for `<>`, absent when unknown.
    sender: Option<String>,
}

/// A refusal that closes the connection, so the unread body is dropped
/// with it instead of read.
fn refuse(status: StatusCode, text: &str) -> Response {
    (status, [(header::CONNECTION, "close")], text.to_string()).into_response()
}

pub async fn inbound(State(ctx): State<Ctx>, req: Request) -> Response {
    let secret = ctx.config.inbound_secret.expose();
    if secret.is_empty() {
        return refuse(
            StatusCode::NOT_FOUND,
            "inbound over HTTP is disabled; set GAZETTE_INBOUND_SECRET to enable it\n",
        );
    }
    if !bearer::matches(req.headers(), secret) {
        return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
    }
    let q = match Query::<InboundQuery>::try_from_uri(req.uri()) {
        Ok(Query(q)) => q,
        Err(e) => {
            let text = format!("{e}; POST /inbound?recipient=ADDRESS[&sender=ADDRESS]\n");
            return refuse(StatusCode::BAD_REQUEST, &text);
        }
    };
    match ctx.route(&q.recipient).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let text = format!("no such list address: {}\n", q.recipient);
            return refuse(StatusCode::NOT_FOUND, &text);
        }
        Err(e) => {
            let text = format!("temporary failure, try again later: {e}\n");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, &text);
        }
    }
    let limit = ctx.config.max_message_bytes;
    let too_big = || {
        let text = format!("message too big; the limit here is {limit} bytes\n");
        refuse(StatusCode::PAYLOAD_TOO_LARGE, &text)
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_big();
    }
    let read = axum::body::to_bytes(req.into_body(), limit);
    let body = match tokio::time::timeout(BODY_TIME, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) if over_limit(&e) => return too_big(),
        Ok(Err(e)) => {
            let text = format!("the body could not be read: {e}\n");
            return refuse(StatusCode::BAD_REQUEST, &text);
        }
        Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, "the body took too long\n"),
    };
    let incoming = Incoming {
        transport: "http",
        mail_from: q.sender.as_deref(),
        recipient: &q.recipient,
        raw: &body,
        trace: "",
        client: None,
    };
    match receive(&ctx, &incoming).await {
        Ok(r) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "id": r.inbound_id,
                "duplicate": r.duplicate,
                "status": r.outcome.status,
                "kind": r.outcome.kind,
                "reason": r.outcome.reason,
            })),
        )
            .into_response(),
        Err(e @ InboundError::TooBig { .. }) => {
            (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")).into_response()
        }
        Err(e @ InboundError::Empty) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Err(e @ InboundError::Temporary(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
    }
}

fn over_limit(e: &axum::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
}
