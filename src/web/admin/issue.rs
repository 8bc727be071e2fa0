//! The next issue, curated: every question as it would go out (left-out
//! ones too, to put back), with buttons to leave out, move and feature,
//! the answers to show, the subject and the Markdown intro; then preview,
//! a test copy to yourself, approval, or sending now. Each action is one
//! small form (saved as you go); the page's script sends them without a
//! page load and lets questions be dragged into order.

use super::auth::{list_for, Posted, Signed};
use super::pages::{failed, render, see_other, when, Chrome};
use crate::app::{Ctx, List};
use crate::digest::curate::{self, Change, CurateError, Workbench};
use crate::digest::send;
use crate::store::DigestStatus;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

pub struct AnswerRow {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub shown: bool,
    pub new: bool,
}

pub struct ItemRow {
    pub q: i64,
    pub position: usize,
    pub subject: String,
    pub author: String,
    pub section: &'static str,
    pub body: String,
    pub out: bool,
    pub featured: bool,
    pub note: String,
    pub answers: Vec<AnswerRow>,
    pub first: bool,
    pub last: bool,
}

#[derive(Template)]
#[template(path = "web/admin/issue.html")]
struct IssuePage {
    chrome: Chrome,
    address: String,
    number: i64,
    status_text: String,
    editable: bool,
    version: i64,
    /// What the editor sees, so approving refuses anything newer.
    seen: String,
    subject: String,
    subject_shown: String,
    send_now_subject: String,
    intro: String,
    intro_html: String,
    summary: String,
    items: Vec<ItemRow>,
    going_out: usize,
    empty: bool,
    next_send: String,
    require_approval: bool,
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn page(
    ctx: &Ctx,
    list: &List,
    chrome: Chrome,
    typed: Option<(String, String)>,
) -> anyhow::Result<IssuePage> {
    let bench = curate::workbench(ctx, list).await?;
    let Workbench {
        draft,
        curation,
        items,
        issue,
    } = bench;
    let stored = ctx
        .store
        .digest(draft.id)
        .await?
        .map(|d| d.subject)
        .unwrap_or_default();
    let n = items.len();
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| ItemRow {
            q: item.question_id,
            position: i + 1,
            out: curation.left_out.contains(&item.question_id),
            featured: curation.featured.contains_key(&item.question_id),
            note: curation
                .featured
                .get(&item.question_id)
                .cloned()
                .unwrap_or_default(),
            answers: item
                .answers
                .iter()
                .map(|a| AnswerRow {
                    id: a.answer_id,
                    author: a.author.clone(),
                    body: a.body.clone(),
                    shown: !curation.hidden_answers.contains(&a.answer_id),
                    new: a.new,
                })
                .collect(),
            subject: item.subject,
            author: item.author,
            section: item.section.title(),
            body: item.body,
            first: i == 0,
            last: i + 1 == n,
        })
        .collect();
    let editable = draft.status == DigestStatus::Draft;
    let status_text = match (draft.status, draft.due_at) {
        (DigestStatus::Approved, _) => format!(
            "Approved{}. It goes out {}.",
            draft
                .approved_at
                .map(|t| format!(" {}", when(list, Some(t))))
                .unwrap_or_default(),
            if draft.due_at.is_some() {
                "now".to_string()
            } else {
                format!("on {}", when(list, list.row.next_digest_at))
            }
        ),
        (_, Some(_)) => "Its send time has passed: it waits for your approval.".into(),
        _ if list.row.require_approval => format!(
            "Draft. It needs an editor's approval before it can go out on {}.",
            when(list, list.row.next_digest_at)
        ),
        _ => format!(
            "Draft. Unless you change it, it goes out as it is on {}.",
            when(list, list.row.next_digest_at)
        ),
    };
    let (subject, intro) = typed.unwrap_or((stored.clone(), draft.intro.clone()));
    let send_now_subject = if stored.trim().is_empty() && editable {
        send::default_subject(list, crate::now_ms())
    } else {
        draft.subject.clone()
    };
    Ok(IssuePage {
        chrome,
        address: list.posting(),
        number: draft.number,
        status_text,
        editable,
        version: draft.version,
        seen: issue.fingerprint(),
        intro_html: crate::markdown::to_html(&intro),
        subject,
        subject_shown: draft.subject.clone(),
        send_now_subject,
        intro,
        summary: crate::digest::summary_line(&issue),
        going_out: issue.items.len(),
        empty: issue.is_empty(),
        items: rows,
        next_send: when(list, list.row.next_digest_at),
        require_approval: list.row.require_approval,
    })
}

pub async fn show(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let chrome = Chrome::list("Next issue", &editor, &list, "issue", &ctx)
        .await
        .after(q.done.as_deref());
    match page(&ctx, &list, chrome, None).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(e) => failed(e),
    }
}

/// One curation action (the form's `action` field), saved at once.
pub async fn act(
    State(ctx): State<Ctx>,
    Path(address): Path<String>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let q = form.id("q").unwrap_or(0);
    let action = form.text("action");
    let (change, done) = match action.as_str() {
        "save" => (None, "saved"),
        "leave-out" => (Some(Change::LeaveOut(q)), "left-out"),
        "include" => (Some(Change::Include(q)), "included"),
        "top" => (Some(Change::MoveTop(q)), "moved"),
        "up" => (Some(Change::MoveUp(q)), "moved"),
        "down" => (Some(Change::MoveDown(q)), "moved"),
        "order" => {
            let ids: Vec<i64> = form
                .text("order")
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            (Some(Change::Order(ids)), "moved")
        }
        "feature" => (Some(Change::Feature(q, form.text("note"))), "featured"),
        "unfeature" => (Some(Change::Unfeature(q)), "unfeatured"),
        "answers" => {
            let shown = form
                .all("shown")
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect();
            (Some(Change::ShowAnswers { question: q, shown }), "answers")
        }
        other => {
            let chrome = Chrome::list("Next issue", &editor, &list, "issue", &ctx)
                .await
                .with_problem(format!(
                    "“{other}” is not something this page can do; reload it."
                ));
            return reshow(&ctx, &list, chrome, None, StatusCode::BAD_REQUEST).await;
        }
    };
    let changes = match change {
        Some(c) => vec![c],
        None => vec![
            Change::Subject(form.text("subject")),
            Change::Intro(form.text("intro")),
        ],
    };
    let typed = (action == "save").then(|| (form.text("subject"), form.text("intro")));
    match curate::change(&ctx, &list, form.id("version"), &changes).await {
        Ok(_) => {
            let anchor = if q > 0 {
                format!("#q{q}")
            } else {
                String::new()
            };
            let mut r = see_other(&format!("/admin/lists/{}/issue", list.posting()), done);
            if !anchor.is_empty() {
                if let Some(loc) = r.headers().get("location").and_then(|l| l.to_str().ok()) {
                    if let Ok(v) = format!("{loc}{anchor}").parse() {
                        r.headers_mut().insert("location", v);
                    }
                }
            }
            r
        }
        Err(
            e
            @ (CurateError::Stale { .. } | CurateError::NotDraft { .. } | CurateError::Invalid(_)),
        ) => {
            let status = match e {
                CurateError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            let mut problem = e.to_string();
            if typed.is_some() && matches!(e, CurateError::Stale { .. }) {
                problem.push_str(" Your subject and intro are kept in the form below: check them against the other editor's, then save again.");
            }
            let chrome = Chrome::list("Next issue", &editor, &list, "issue", &ctx)
                .await
                .with_problem(problem);
            reshow(&ctx, &list, chrome, typed, status).await
        }
        Err(CurateError::Other(e)) => failed(e),
    }
}

async fn reshow(
    ctx: &Ctx,
    list: &List,
    chrome: Chrome,
    typed: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    match page(ctx, list, chrome, typed).await {
        Ok(p) => render(status, &p),
        Err(e) => failed(e),
    }
}

/// The intro's live preview: the Markdown as it will show.
pub async fn intro_preview(
    State(ctx): State<Ctx>,
    Path(address): Path<String>,
    Posted(editor, form): Posted,
) -> Response {
    if let Err(r) = list_for(&ctx, &editor, &address).await {
        return r;
    }
    Html(crate::markdown::to_html(&form.text("intro"))).into_response()
}

/// Approve (`send=now`: and send at once), refusing content that changed
/// since the editor's look.
pub async fn approve(
    State(ctx): State<Ctx>,
    Path(address): Path<String>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let seen = form.get("seen").filter(|s| !s.is_empty());
    let now = form.get("send") == Some("now");
    let result = if now {
        send::send_now_seen(&ctx, &list, seen).await.map(|_| "sent")
    } else {
        send::approve_and_release_if_due(&ctx, &list, seen)
            .await
            .map(|(_, released)| {
                if released.is_some() {
                    "sent"
                } else {
                    "approved"
                }
            })
    };
    match result {
        Ok(done) => {
            tracing::info!(editor = %editor.email, list = %list.posting(), done, "issue approved");
            see_other(&format!("/admin/lists/{}/issue", list.posting()), done)
        }
        Err(e) if e.downcast_ref::<send::ChangedSinceSeen>().is_some() => {
            let chrome = Chrome::list("Next issue", &editor, &list, "issue", &ctx)
                .await
                .with_problem(e.to_string());
            reshow(&ctx, &list, chrome, None, StatusCode::CONFLICT).await
        }
        Err(e) => failed(e),
    }
}

#[derive(serde::Deserialize)]
pub struct PreviewQuery {
    member: Option<String>,
}

#[derive(Template)]
#[template(path = "web/admin/preview.html")]
struct PreviewPage {
    chrome: Chrome,
    address: String,
    member: String,
    subject: String,
    text: String,
    frame: String,
    number: i64,
}

/// The issue exactly as a chosen member gets it: HTML in a frame, and
/// the text version.
pub async fn preview(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let chrome = Chrome::list("Preview", &editor, &list, "issue", &ctx).await;
    let member = q.member.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let email = match member.map(crate::email::EmailAddress::parse).transpose() {
        Ok(e) => e,
        Err(e) => {
            return super::pages::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                chrome,
                "Preview",
                &format!("{e}. Type the address of a member of the list."),
            )
        }
    };
    match send::preview(&ctx, &list, email.as_ref()).await {
        Ok((d, text, _)) => {
            let who = match &email {
                Some(e) => e.as_str().to_string(),
                None => ctx
                    .store
                    .first_active_member(list.id())
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.email)
                    .unwrap_or_default(),
            };
            render(
                StatusCode::OK,
                &PreviewPage {
                    chrome,
                    address: list.posting(),
                    frame: format!(
                        "/admin/lists/{}/issue/preview.html?member={}",
                        list.posting(),
                        crate::outbound::text::mailto_encode(&who)
                    ),
                    member: who,
                    subject: d.subject,
                    text,
                    number: d.number,
                },
            )
        }
        Err(e) => super::pages::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            chrome,
            "Preview",
            &e.to_string(),
        ),
    }
}

/// The HTML version on its own, for the preview's frame. Sandboxed: the
/// mail's links cannot act on the editor's pages.
pub async fn preview_html(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let email = q
        .member
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .and_then(|m| crate::email::EmailAddress::parse(m.trim()).ok());
    match send::preview(&ctx, &list, email.as_ref()).await {
        Ok((_, _, html)) => (
            [
                ("content-security-policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:"),
                ("cache-control", "no-store"),
                ("x-frame-options", "SAMEORIGIN"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
    }
}

/// A test copy to the signed-in editor, as the chosen member would get it.
pub async fn test_copy(
    State(ctx): State<Ctx>,
    Path(address): Path<String>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let member = form.text("member");
    let email = crate::email::EmailAddress::parse(member.trim()).ok();
    match send::send_test(&ctx, &list, email.as_ref(), &editor.email).await {
        Ok(()) => see_other(
            &format!(
                "/admin/lists/{}/issue/preview?member={}",
                list.posting(),
                crate::outbound::text::mailto_encode(member.trim())
            ),
            "test-sent",
        ),
        Err(e) => {
            let chrome = Chrome::list("Next issue", &editor, &list, "issue", &ctx)
                .await
                .with_problem(e.to_string());
            reshow(&ctx, &list, chrome, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}
