//! Deliveries of an issue: queued, deferred, sent and failed counts (the
//! page refreshes itself while the issue is going out), failures with the
//! relay's reply, and retrying them.

use super::auth::{list_for, Posted, Signed};
use super::pages::{failed, render, see_other, when, Chrome};
use crate::app::Ctx;
use crate::store::deliveries::{DeliveryCounts, DeliveryRow};
use crate::store::DigestStatus;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "web/admin/deliveries.html")]
struct DeliveriesPage {
    chrome: Chrome,
    address: String,
    /// (number, subject, sent at)
    issues: Vec<(i64, String, String)>,
    number: i64,
    subject: String,
    counts: DeliveryCounts,
    percent: i64,
    failures: Vec<DeliveryRow>,
    deferred: Vec<DeliveryRow>,
    sending: bool,
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The latest sent issue's deliveries.
pub async fn latest(
    State(ctx): State<Ctx>,
    signed: Signed,
    Path(address): Path<String>,
    q: Query<Done>,
) -> Response {
    show_issue(ctx, signed, address, None, q.0.done).await
}

pub async fn issue(
    State(ctx): State<Ctx>,
    signed: Signed,
    Path((address, number)): Path<(String, i64)>,
    q: Query<Done>,
) -> Response {
    show_issue(ctx, signed, address, Some(number), q.0.done).await
}

async fn show_issue(
    ctx: Ctx,
    Signed(editor): Signed,
    address: String,
    number: Option<i64>,
    done: Option<String>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let recent = match ctx.store.recent_digests(list.id(), 20).await {
        Ok(r) => r,
        Err(e) => return failed(e.into()),
    };
    let sent: Vec<_> = recent
        .into_iter()
        .filter(|d| d.status == DigestStatus::Sent)
        .collect();
    let chosen = match number {
        Some(n) => sent.iter().find(|d| d.number == n),
        None => sent.first(),
    };
    let chrome = Chrome::list("Deliveries", &editor, &list, "deliveries", &ctx)
        .await
        .after(done.as_deref());
    let issues = sent
        .iter()
        .map(|d| (d.number, d.subject.clone(), when(&list, d.sent_at)))
        .collect();
    let Some(d) = chosen else {
        if number.is_some() {
            return super::pages::not_found(&editor);
        }
        return render(
            StatusCode::OK,
            &DeliveriesPage {
                chrome,
                address: list.posting(),
                issues,
                number: 0,
                subject: String::new(),
                counts: DeliveryCounts::default(),
                percent: 0,
                failures: Vec::new(),
                deferred: Vec::new(),
                sending: false,
            },
        );
    };
    let loaded = async {
        Ok::<_, crate::store::StoreError>((
            ctx.store.issue_delivery_counts(d.id).await?,
            ctx.store.issue_failures(d.id, 200).await?,
            ctx.store.issue_deferred(d.id, 50).await?,
        ))
    };
    let (counts, failures, deferred) = match loaded.await {
        Ok(x) => x,
        Err(e) => return failed(e.into()),
    };
    let total = counts.total().max(1);
    render(
        StatusCode::OK,
        &DeliveriesPage {
            chrome,
            address: list.posting(),
            issues,
            number: d.number,
            subject: d.subject.clone(),
            percent: (counts.sent + counts.failed + counts.cancelled) * 100 / total,
            sending: counts.in_progress() > 0,
            counts,
            failures,
            deferred,
        },
    )
}

pub async fn retry(
    State(ctx): State<Ctx>,
    Path((address, number)): Path<(String, i64)>,
    Posted(editor, _): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let d = match ctx.store.digest_by_number(list.id(), number).await {
        Ok(Some(d)) => d,
        Ok(None) => return super::pages::not_found(&editor),
        Err(e) => return failed(e.into()),
    };
    match ctx.store.retry_issue_failures(d.id).await {
        Ok(n) => {
            ctx.outbox_wake.notify_waiters();
            tracing::info!(editor = %editor.email, issue = number, count = n, "failed deliveries queued again");
            see_other(
                &format!("/admin/lists/{}/issues/{number}/deliveries", list.posting()),
                "retried",
            )
        }
        Err(e) => failed(e.into()),
    }
}
