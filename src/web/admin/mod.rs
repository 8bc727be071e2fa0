//! The editors' web UI under `/admin`: sign-in by email, and for each list
//! an overview, the next issue's curation, held posts, members,
//! deliveries and settings. Server-rendered (askama, `templates/web/admin`),
//! usable without JavaScript; `/static/admin.js` only makes it quicker.
//!
//! Every page needs a session ([`auth::Signed`], else `302` to sign-in);
//! every state-changing request passes [`auth::Posted`] (same origin and
//! the session's form token); a list the editor does not edit is `404`.

pub mod auth;
mod dashboard;
mod deliveries;
mod held;
pub mod import;
mod issue;
mod members;
pub mod pages;
mod settings;
mod sign_in;

use crate::app::Ctx;
use axum::routing::{get, post};
use axum::Router;

/// Every `/admin` route but the import upload (see [`upload_routes`]).
pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/admin", get(sign_in::home))
        .route("/admin/", get(sign_in::home))
        .route("/admin/sign-in", get(sign_in::form).post(sign_in::request))
        .route(
            "/admin/sign-in/{token}",
            get(sign_in::link_page).post(sign_in::use_link),
        )
        .route("/admin/sign-out", post(sign_in::sign_out))
        .route("/admin/lists/{list}", get(dashboard::overview))
        .route(
            "/admin/lists/{list}/issue",
            get(issue::show).post(issue::act),
        )
        .route(
            "/admin/lists/{list}/issue/intro-preview",
            post(issue::intro_preview),
        )
        .route("/admin/lists/{list}/issue/preview", get(issue::preview))
        .route(
            "/admin/lists/{list}/issue/preview.html",
            get(issue::preview_html),
        )
        .route("/admin/lists/{list}/issue/test", post(issue::test_copy))
        .route("/admin/lists/{list}/issue/approve", post(issue::approve))
        .route("/admin/lists/{list}/held", get(held::show))
        .route(
            "/admin/lists/{list}/held/{id}/{decision}",
            post(held::decide),
        )
        .route(
            "/admin/lists/{list}/members",
            get(members::list).post(members::add),
        )
        .route("/admin/lists/{list}/members.csv", get(members::export))
        .route("/admin/lists/{list}/members/import", get(import::form))
        .route("/admin/lists/{list}/members/{id}", get(members::show))
        .route(
            "/admin/lists/{list}/members/{id}/{what}",
            post(members::change),
        )
        .route("/admin/lists/{list}/deliveries", get(deliveries::latest))
        .route(
            "/admin/lists/{list}/issues/{number}/deliveries",
            get(deliveries::issue),
        )
        .route(
            "/admin/lists/{list}/issues/{number}/retry",
            post(deliveries::retry),
        )
        .route(
            "/admin/lists/{list}/settings",
            get(settings::show).post(settings::save),
        )
}

/// The CSV upload, which takes a larger body than the other forms and
/// reads it itself, after checking who sends it.
pub fn upload_routes() -> Router<Ctx> {
    Router::new().route("/admin/lists/{list}/members/import", post(import::post))
}
