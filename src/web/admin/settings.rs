//! A list's settings an editor may change: whether issues wait for an
//! editor's approval, and the public archive. Turning approval off while
//! an issue waits would send it at once, so the page asks first.

use super::auth::{list_for, Posted, Signed};
use super::pages::{failed, render, see_other, when, Chrome};
use crate::app::Ctx;
use crate::lists::{self, ListChanges};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "web/admin/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    address: String,
    require_approval: bool,
    archive_public: bool,
    archive_url: String,
    schedule: String,
    timezone: String,
    next_digest: String,
    /// Asking before approval goes off: the waiting issue's number.
    ask_waiting: Option<i64>,
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
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
    let chrome = Chrome::list("Settings", &editor, &list, "settings", &ctx)
        .await
        .after(q.done.as_deref());
    page(&list, chrome, None, StatusCode::OK)
}

fn page(list: &crate::app::List, chrome: Chrome, ask: Option<i64>, status: StatusCode) -> Response {
    render(
        status,
        &SettingsPage {
            chrome,
            address: list.posting(),
            require_approval: list.row.require_approval,
            archive_public: list.row.archive_public,
            archive_url: crate::web::archive_url(list),
            schedule: list.row.schedule.clone(),
            timezone: list.row.timezone.clone(),
            next_digest: when(list, list.row.next_digest_at),
            ask_waiting: ask,
        },
    )
}

pub async fn save(
    State(ctx): State<Ctx>,
    Path(address): Path<String>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let approval = form.get("require_approval") == Some("on");
    let archive = form.get("archive_public") == Some("on");
    let send_waiting = form.get("send_waiting") == Some("yes");
    if list.row.require_approval && !approval && !send_waiting {
        match lists::waiting_issue(&ctx, &list).await {
            Ok(Some(n)) => {
                let chrome = Chrome::list("Settings", &editor, &list, "settings", &ctx).await;
                return page(&list, chrome, Some(n), StatusCode::CONFLICT);
            }
            Ok(None) => {}
            Err(e) => return failed(e),
        }
    }
    let changes = ListChanges {
        require_approval: Some(approval),
        release_waiting: send_waiting,
        archive_public: Some(archive),
        ..ListChanges::default()
    };
    match lists::change(&ctx, &list, changes).await {
        Ok(_) => {
            tracing::info!(editor = %editor.email, list = %list.posting(), approval, archive, "list settings changed");
            see_other(
                &format!("/admin/lists/{}/settings", list.posting()),
                "settings",
            )
        }
        Err(e) => {
            let chrome = Chrome::list("Settings", &editor, &list, "settings", &ctx)
                .await
                .with_problem(e.to_string());
            page(&list, chrome, None, StatusCode::CONFLICT)
        }
    }
}
