//! Members: search and filter, add (asking them to confirm, or with a
//! recorded reason they may be mailed), a member's history, change of
//! delivery mode, removal, and CSV export. Import is in [`super::import`].

use super::auth::{list_for, Posted, Signed};
use super::pages::{failed, render, see_other, when, Chrome};
use crate::app::Ctx;
use crate::email::EmailAddress;
use crate::membership::{self, mode_label, Enrolled, Enrollment, Invited};
use crate::store::deliveries::{BounceRow, DeliveryRow};
use crate::store::members::{MemberFilter, MemberRow};
use crate::store::{DeliveryMode, MemberStatus, StoredEnum};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const PAGE: i64 = 50;

#[derive(serde::Deserialize, Default)]
pub struct Search {
    q: Option<String>,
    status: Option<String>,
    mode: Option<String>,
    page: Option<i64>,
    done: Option<String>,
}

/// (value, label, selected) of a filter's options.
type Options = Vec<(String, String, bool)>;

#[derive(Template)]
#[template(path = "web/admin/members.html")]
struct MembersPage {
    chrome: Chrome,
    address: String,
    q: String,
    statuses: Options,
    modes: Options,
    members: Vec<(MemberRow, &'static str)>,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
    add_email: String,
    add_name: String,
}

pub async fn list(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
    Query(s): Query<Search>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let status = s
        .status
        .as_deref()
        .and_then(|v| MemberStatus::parse(v).ok());
    let mode = s.mode.as_deref().and_then(|v| DeliveryMode::parse(v).ok());
    let filter = MemberFilter {
        status,
        mode,
        text: s.q.clone().unwrap_or_default(),
    };
    let page = s.page.unwrap_or(0).max(0);
    let rows = match ctx
        .store
        .search_members(list.id(), &filter, PAGE + 1, page * PAGE)
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(e.into()),
    };
    let more = rows.len() as i64 > PAGE;
    let link = |p: i64| {
        format!(
            "/admin/lists/{}/members?q={}&status={}&mode={}&page={p}",
            list.posting(),
            crate::outbound::text::mailto_encode(&filter.text),
            status.map_or("", |s| s.as_str()),
            mode.map_or("", |m| m.as_str()),
        )
    };
    let statuses = std::iter::once((String::new(), "Any status".to_string(), status.is_none()))
        .chain(MemberStatus::ALL.iter().map(|&v| {
            (
                v.as_str().to_string(),
                super::dashboard::status_label(v).to_string(),
                status == Some(v),
            )
        }))
        .collect();
    let modes = std::iter::once((String::new(), "Any delivery".to_string(), mode.is_none()))
        .chain(DeliveryMode::ALL.iter().map(|&v| {
            (
                v.as_str().to_string(),
                mode_label(v).to_string(),
                mode == Some(v),
            )
        }))
        .collect();
    render(
        StatusCode::OK,
        &MembersPage {
            chrome: Chrome::list("Members", &editor, &list, "members", &ctx)
                .await
                .after(s.done.as_deref()),
            address: list.posting(),
            q: filter.text.clone(),
            statuses,
            modes,
            members: rows
                .into_iter()
                .take(PAGE as usize)
                .map(|m| {
                    let status = super::dashboard::status_label(m.status);
                    (m, status)
                })
                .collect(),
            page,
            prev: (page > 0).then(|| link(page - 1)),
            next: more.then(|| link(page + 1)),
            add_email: String::new(),
            add_name: String::new(),
        },
    )
}

/// Adds one address: asked to confirm, or added at once with a reason.
pub async fn add(
    State(ctx): State<Ctx>,
    Path(address): Path<String>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let back = format!("/admin/lists/{}/members", list.posting());
    let problem = |text: String| async {
        let chrome = Chrome::list("Members", &editor, &list, "members", &ctx)
            .await
            .with_problem(text);
        super::pages::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            chrome,
            "Not added",
            "Nothing was changed. Go back to the members page and correct the form.",
        )
    };
    let email = match EmailAddress::parse(form.text("email").trim()) {
        Ok(e) => e,
        Err(e) => return problem(format!("{e}")).await,
    };
    let mode = match membership::parse_mode(form.get("mode").unwrap_or("digest")) {
        Ok(m) => m,
        Err(e) => return problem(e.to_string()).await,
    };
    let name = form.text("name");
    let reason = form.text("reason");
    let confirmed = form.get("how") == Some("confirmed");
    if confirmed && reason.trim().is_empty() {
        return problem("Say why they may be mailed without confirming (for example “signed up at the 2026 summit”), or choose to ask them to confirm.".into()).await;
    }
    let consent = format!("added by editor {}: {}", editor.email, reason.trim());
    let how = Enrollment {
        name: &name,
        mode: Some(mode),
        resubscribe: form.get("resubscribe") == Some("on"),
        consent: &consent,
    };
    let done = if confirmed {
        match membership::enroll(&ctx, &list, &email, &how).await {
            Ok(Enrolled::Added(_) | Enrolled::Updated(_)) => "added",
            Ok(Enrolled::Skipped(m)) => {
                return problem(format!(
                    "{} is {}; tick “they asked to come back” to add them again.",
                    m.email,
                    super::dashboard::status_label(m.status).to_lowercase()
                ))
                .await
            }
            Err(e) => return failed(e),
        }
    } else {
        let cause = format!("editor:{}", crate::now_ms());
        match membership::invite(&ctx, &list, &email, &how, &cause).await {
            Ok(Invited::Asked(_)) => "invited",
            Ok(Invited::Updated(_)) => "added",
            Ok(Invited::Skipped(m)) => {
                return problem(format!(
                    "{} was not asked again: they are {} (or were asked within the hour).",
                    m.email,
                    super::dashboard::status_label(m.status).to_lowercase()
                ))
                .await
            }
            Err(e) => return failed(e),
        }
    };
    tracing::info!(editor = %editor.email, member = %email, done, "member added");
    see_other(&back, done)
}

#[derive(Template)]
#[template(path = "web/admin/member.html")]
struct MemberPage {
    chrome: Chrome,
    address: String,
    m: MemberRow,
    status: &'static str,
    requested: String,
    confirmed: String,
    left: String,
    modes: Options,
    bounces: Vec<(BounceRow, String)>,
    deliveries: Vec<(DeliveryRow, String)>,
}

pub async fn show(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path((address, id)): Path<(String, i64)>,
    Query(s): Query<Search>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let m = match ctx.store.member(id).await {
        Ok(Some(m)) if m.list_id == list.id() => m,
        Ok(_) => return super::pages::not_found(&editor),
        Err(e) => return failed(e.into()),
    };
    let loaded = async {
        Ok::<_, crate::store::StoreError>((
            ctx.store.member_left_at(m.id).await?,
            ctx.store.member_bounces(m.id, 20).await?,
            ctx.store.member_deliveries(m.id, 20).await?,
        ))
    };
    let (left, bounces, deliveries) = match loaded.await {
        Ok(x) => x,
        Err(e) => return failed(e.into()),
    };
    let modes = DeliveryMode::ALL
        .iter()
        .map(|&v| {
            (
                v.as_str().to_string(),
                mode_label(v).to_string(),
                v == m.mode,
            )
        })
        .collect();
    render(
        StatusCode::OK,
        &MemberPage {
            chrome: Chrome::list(&m.email, &editor, &list, "members", &ctx)
                .await
                .after(s.done.as_deref()),
            address: list.posting(),
            status: super::dashboard::status_label(m.status),
            requested: when(&list, Some(m.requested_at)),
            confirmed: when(&list, m.confirmed_at),
            left: when(&list, left),
            modes,
            bounces: bounces
                .into_iter()
                .map(|b| {
                    let at = when(&list, Some(b.created_at));
                    (b, at)
                })
                .collect(),
            deliveries: deliveries
                .into_iter()
                .map(|d| {
                    let at = when(&list, d.sent_at.or(Some(d.created_at)));
                    (d, at)
                })
                .collect(),
            m,
        },
    )
}

/// Changes a member's delivery mode, or removes them (`what`).
pub async fn change(
    State(ctx): State<Ctx>,
    Path((address, id, what)): Path<(String, i64, String)>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let m = match ctx.store.member(id).await {
        Ok(Some(m)) if m.list_id == list.id() => m,
        Ok(_) => return super::pages::not_found(&editor),
        Err(e) => return failed(e.into()),
    };
    let here = format!("/admin/lists/{}/members/{id}", list.posting());
    let result = match what.as_str() {
        "mode" => match membership::parse_mode(form.get("mode").unwrap_or("")) {
            Ok(mode) => membership::set_mode(&ctx, &m, mode).await.map(|_| "mode"),
            Err(e) => Err(e),
        },
        "remove" => membership::leave(&ctx, &m, false, &format!("editor:{}", editor.email))
            .await
            .map(|_| "removed"),
        _ => return super::pages::not_found(&editor),
    };
    match result {
        Ok(done) => {
            tracing::info!(editor = %editor.email, member = %m.email, done, "member changed");
            see_other(&here, done)
        }
        Err(e) => {
            let chrome = Chrome::list(&m.email, &editor, &list, "members", &ctx)
                .await
                .with_problem(e.to_string());
            super::pages::message(
                StatusCode::CONFLICT,
                chrome,
                "Not changed",
                "Go back to the member's page.",
            )
        }
    }
}

/// Every member as CSV (`email,name,status,mode`).
pub async fn export(
    State(ctx): State<Ctx>,
    Signed(editor): Signed,
    Path(address): Path<String>,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    if let Err(e) = membership::csv::export(&ctx, &list, &mut out).await {
        return failed(e);
    }
    let file = format!("{}-members.csv", list.posting().replace('@', "-at-"));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        out,
    )
        .into_response()
}
