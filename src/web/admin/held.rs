//! Held posts: each with why it was held, to approve (it is posted and
//! the author told) or reject (with an optional note mailed to the author).

use super::auth::{list_for, Posted, Signed};
use super::pages::{failed, render, see_other, when, Chrome};
use crate::app::Ctx;
use crate::moderation::{self, Decided, HeldPost};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "web/admin/held.html")]
struct HeldPage {
    chrome: Chrome,
    address: String,
    posts: Vec<(HeldPost, String)>,
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
    let posts = match moderation::held_posts(&ctx, &list).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let posts = posts
        .into_iter()
        .map(|p| {
            let at = when(&list, Some(p.received_at));
            (p, at)
        })
        .collect();
    render(
        StatusCode::OK,
        &HeldPage {
            chrome: Chrome::list("Held posts", &editor, &list, "held", &ctx)
                .await
                .after(q.done.as_deref()),
            address: list.posting(),
            posts,
        },
    )
}

/// Approve or reject held post `id` (`decision` in the path).
pub async fn decide(
    State(ctx): State<Ctx>,
    Path((address, id, decision)): Path<(String, i64, String)>,
    Posted(editor, form): Posted,
) -> Response {
    let list = match list_for(&ctx, &editor, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let result = match decision.as_str() {
        "approve" => moderation::approve(&ctx, &list, id, &editor.email).await,
        "reject" => moderation::reject(&ctx, &list, id, &editor.email, &form.text("note")).await,
        _ => return super::pages::not_found(&editor),
    };
    let back = format!("/admin/lists/{}/held", list.posting());
    match result {
        Ok(Decided::Posted { .. }) => see_other(&back, "approved-post"),
        Ok(Decided::Rejected) => see_other(&back, "rejected-post"),
        Ok(Decided::AlreadyDecided) => see_other(&back, "decided"),
        Err(e) => failed(e),
    }
}
