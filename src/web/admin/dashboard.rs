//! The editor's lists, and one list's overview: members by status and
//! mode, the next digest in the list's time zone, what arrived since the
//! last issue, held posts, and the last issue's deliveries.

use super::auth::{list_for, Signed};
use super::pages::{failed, render, when, Chrome};
use crate::app::{Ctx, List};
use crate::editors::Editor;
use crate::store::deliveries::DeliveryCounts;
use crate::store::{DeliveryMode, DigestStatus, MemberStatus, StoredEnum};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "web/admin/lists.html")]
struct ListsPage {
    chrome: Chrome,
    /// (address, name)
    lists: Vec<(String, String)>,
}

/// `/admin`: the lists this editor edits (straight to the list when there
/// is only one).
pub async fn lists(ctx: &Ctx, editor: &Editor) -> Response {
    let all = match ctx.store.lists().await {
        Ok(all) => all,
        Err(e) => return failed(e.into()),
    };
    let mine: Vec<(String, String)> = all
        .into_iter()
        .filter(|l| editor.edits(l.id))
        .map(|l| (l.address, l.name))
        .collect();
    if let [(address, _)] = mine.as_slice() {
        return super::pages::see_other(&format!("/admin/lists/{address}"), "");
    }
    render(
        StatusCode::OK,
        &ListsPage {
            chrome: Chrome::editor("Your lists", editor),
            lists: mine,
        },
    )
}

/// One row of the members table: a status and its count per mode.
struct MemberLine {
    status: &'static str,
    total: i64,
    digest: i64,
    every: i64,
    paused: i64,
}

#[derive(Template)]
#[template(path = "web/admin/overview.html")]
struct Overview {
    chrome: Chrome,
    address: String,
    members: Vec<MemberLine>,
    next_digest: String,
    schedule: String,
    timezone: String,
    new_questions: String,
    new_answers: String,
    held: usize,
    /// "Draft", "Approved", "Waiting for approval", ...
    issue_state: String,
    issue_number: i64,
    last_issue: Option<(i64, String, String, DeliveryCounts)>,
}

pub async fn overview(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    match build(&ctx, &editor, &list).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => failed(e),
    }
}

async fn build(ctx: &Ctx, editor: &Editor, list: &List) -> anyhow::Result<Overview> {
    let counts = ctx.store.member_counts_by_mode(list.id()).await?;
    let members = MemberStatus::ALL
        .iter()
        .map(|&s| {
            let n = |m: DeliveryMode| {
                counts
                    .iter()
                    .filter(|(cs, cm, _)| *cs == s && *cm == m)
                    .map(|(_, _, n)| n)
                    .sum::<i64>()
            };
            MemberLine {
                status: status_label(s),
                total: n(DeliveryMode::Digest) + n(DeliveryMode::Every) + n(DeliveryMode::Paused),
                digest: n(DeliveryMode::Digest),
                every: n(DeliveryMode::Every),
                paused: n(DeliveryMode::Paused),
            }
        })
        .collect();
    let material = crate::digest::assemble::assemble(ctx, list, crate::now_ms()).await?;
    let draft = crate::digest::send::draft(ctx, list).await?;
    let issue_state = match (draft.status, draft.due_at) {
        (DigestStatus::Approved, _) => "Approved; goes out at its scheduled time".to_string(),
        (DigestStatus::Draft, Some(_)) if list.row.require_approval => {
            "Waiting for your approval (its send time has passed)".to_string()
        }
        (DigestStatus::Draft, _) if list.row.require_approval => {
            "Draft; needs an editor's approval before it goes out".to_string()
        }
        _ => "Draft; goes out on schedule unless you change it".to_string(),
    };
    let mut last_issue = None;
    for d in ctx.store.recent_digests(list.id(), 10).await? {
        if d.status == DigestStatus::Sent {
            let counts = ctx.store.issue_delivery_counts(d.id).await?;
            last_issue = Some((d.number, d.subject.clone(), when(list, d.sent_at), counts));
            break;
        }
    }
    Ok(Overview {
        chrome: Chrome::list(list.name(), editor, list, "overview", ctx).await,
        address: list.posting(),
        members,
        next_digest: when(list, list.row.next_digest_at),
        schedule: list.row.schedule.clone(),
        timezone: list.row.timezone.clone(),
        new_questions: crate::digest::plural(
            material.new_questions(),
            "new question",
            "new questions",
        ),
        new_answers: crate::digest::plural(material.new_answers(), "new answer", "new answers"),
        held: crate::moderation::held_posts(ctx, list).await?.len(),
        issue_state,
        issue_number: draft.number,
        last_issue,
    })
}

/// A member status as the pages name it.
pub fn status_label(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Pending => "Waiting to confirm",
        MemberStatus::Active => "Active",
        MemberStatus::Unsubscribed => "Unsubscribed",
        MemberStatus::Disabled => "Disabled (bounces)",
        MemberStatus::Guest => "Guests (approved posts, not members)",
    }
}
