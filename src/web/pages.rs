//! Public pages and endpoints. Confirm and unsubscribe show a page on GET
//! and act on POST (RFC 8058 one-click for unsubscribe), so the link
//! scanners of corporate mail never subscribe or unsubscribe anyone.

use crate::address::Command;
use crate::app::Ctx;
use crate::membership::{self, mode_label, Confirmed};
use crate::store::{DeliveryMode, MemberStatus, StoredEnum};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "web/page.html")]
struct Page<'a> {
    title: &'a str,
    paragraphs: Vec<String>,
    form_action: Option<String>,
    button: &'a str,
    /// Where the delivery-mode buttons post, when the page offers them.
    mode_action: Option<String>,
    /// (mode, label, is the member's current mode)
    modes: Vec<(String, String, bool)>,
    footer: &'a str,
    /// The main button ends something (unsubscribe): shown as such.
    danger: bool,
}

fn page(
    status: StatusCode,
    title: &str,
    paragraphs: Vec<String>,
    form_action: Option<String>,
    button: &str,
) -> Response {
    render_page(
        status,
        Page {
            title,
            paragraphs,
            form_action,
            button,
            mode_action: None,
            modes: Vec::new(),
            footer: "gazette",
            danger: false,
        },
    )
}

fn render_page(status: StatusCode, p: Page<'_>) -> Response {
    let html = p.render().unwrap_or_else(|e| {
        format!(
            "<h1>{}</h1><p>(page could not be rendered: {e})</p>",
            p.title
        )
    });
    (status, Html(html)).into_response()
}

fn server_error(e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "request failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        vec!["We could not complete this just now. Please try again in a few minutes.".into()],
        None,
        "",
    )
}

pub async fn healthz(State(ctx): State<Ctx>) -> Response {
    match ctx.store.lists().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}\n"),
        )
            .into_response(),
    }
}

/// `/`: not an empty 404. Where editors sign in, and the lists whose
/// archive is public.
pub async fn home(State(ctx): State<Ctx>) -> Response {
    let mut paragraphs = vec![
        "This server runs gazette, the email list behind a community's questions, answers and digest. Members take part by email.".to_string(),
    ];
    match ctx.store.lists().await {
        Ok(lists) => {
            let public: Vec<String> = lists
                .into_iter()
                .filter(|l| l.archive_public)
                .map(|l| format!("{} — /archive/{}", l.name, l.address))
                .collect();
            if !public.is_empty() {
                paragraphs.push(format!("Public archives: {}", public.join("; ")));
            }
        }
        Err(e) => return server_error(e.into()),
    }
    paragraphs.push("Editors: sign in at /admin.".into());
    render_page(
        StatusCode::OK,
        Page {
            title: "gazette",
            paragraphs,
            form_action: None,
            button: "",
            mode_action: None,
            modes: Vec::new(),
            footer: "gazette",
            danger: false,
        },
    )
}

/// The confirmation link's page: a button, so nothing is confirmed by
/// merely opening the link.
pub async fn confirm_page(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let member = match membership::member_for_confirm(&ctx, &token).await {
        Ok(Some(m)) => m,
        Ok(None) => return invalid_link(),
        Err(e) => return server_error(e),
    };
    let list = match ctx.store.list_by_id(member.list_id).await {
        Ok(Some(row)) => ctx.list(row),
        Ok(None) => return invalid_link(),
        Err(e) => return server_error(e.into()),
    };
    if member.status == MemberStatus::Active {
        return page(
            StatusCode::OK,
            "You're already subscribed",
            vec![format!("{} already gets {}.", member.email, list.name())],
            None,
            "",
        );
    }
    page(
        StatusCode::OK,
        &format!("Join {}?", list.name()),
        vec![format!(
            "Confirm that {} wants to receive {} <{}>: questions, answers and the digest, by email.",
            member.email,
            list.name(),
            list.posting()
        )],
        Some(format!("/confirm/{token}")),
        "Confirm my subscription",
    )
}

pub async fn confirm(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    match membership::confirm(&ctx, &token).await {
        Ok(Confirmed::Activated(m)) => page(
            StatusCode::OK,
            "You're in",
            vec![format!(
                "{} is now subscribed. A welcome message is on its way.",
                m.email
            )],
            None,
            "",
        ),
        Ok(Confirmed::AlreadyActive(m)) => page(
            StatusCode::OK,
            "You're already subscribed",
            vec![format!(
                "{} was confirmed before; nothing more to do.",
                m.email
            )],
            None,
            "",
        ),
        Ok(Confirmed::Expired(m)) => {
            let subscribe = match ctx.store.list_by_id(m.list_id).await {
                Ok(Some(row)) => ctx.list(row).command(&Command::Subscribe),
                _ => "the list's subscribe address".into(),
            };
            page(
                StatusCode::GONE,
                "This link has expired",
                vec![format!(
                    "Subscription requests are valid for 7 days. To subscribe again, write to {subscribe} and confirm within a week."
                )],
                None,
                "",
            )
        }
        Ok(Confirmed::Superseded(_)) => page(
            StatusCode::GONE,
            "This link was replaced",
            vec!["A newer confirmation was sent to this address after this one. Use the link in the newest confirmation mail.".into()],
            None,
            "",
        ),
        Ok(Confirmed::Invalid) => page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            vec!["Check that you copied the whole link from the confirmation mail.".into()],
            None,
            "",
        ),
        Err(e) => server_error(e),
    }
}

pub async fn unsubscribe_page(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    match membership::member_for_unsubscribe(&ctx, &token).await {
        Ok(Some(m)) if m.status == MemberStatus::Unsubscribed => page(
            StatusCode::OK,
            "You are unsubscribed",
            vec![format!(
                "{} no longer receives mail from this list.",
                m.email
            )],
            None,
            "",
        ),
        Ok(Some(m)) => {
            let list_name = match ctx.store.list_by_id(m.list_id).await {
                Ok(Some(l)) => format!("{} <{}>", l.name, l.address),
                _ => "this list".into(),
            };
            let modes = if m.is_active() {
                DeliveryMode::ALL
                    .iter()
                    .map(|&v| (v.to_string(), mode_label(v).to_string(), v == m.mode))
                    .collect()
            } else {
                Vec::new()
            };
            render_page(
                StatusCode::OK,
                Page {
                    title: "Unsubscribe?",
                    paragraphs: vec![format!(
                        "Stop all mail from {list_name} to {}? You can join again later.",
                        m.email
                    )],
                    form_action: Some(format!("/unsubscribe/{token}")),
                    button: "Unsubscribe",
                    mode_action: (!modes.is_empty()).then(|| format!("/unsubscribe/{token}/mode")),
                    modes,
                    footer: "gazette",
                    danger: true,
                },
            )
        }
        Ok(None) => invalid_link(),
        Err(e) => server_error(e),
    }
}

fn invalid_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        vec!["Check that you copied the whole link.".into()],
        None,
        "",
    )
}

#[derive(Deserialize)]
pub struct ModeForm {
    mode: String,
}

/// The delivery-mode buttons of the unsubscribe page: the same link, so a
/// member can switch to every post or pause instead of leaving.
pub async fn change_mode(
    State(ctx): State<Ctx>,
    Path(token): Path<String>,
    axum::Form(form): axum::Form<ModeForm>,
) -> Response {
    let member = match membership::member_for_unsubscribe(&ctx, &token).await {
        Ok(Some(m)) => m,
        Ok(None) => return invalid_link(),
        Err(e) => return server_error(e),
    };
    let Ok(mode) = DeliveryMode::parse(&form.mode) else {
        return page(
            StatusCode::BAD_REQUEST,
            "That did not work",
            vec![format!(
                "`{}` is not a delivery mode; use the buttons on the page.",
                form.mode
            )],
            None,
            "",
        );
    };
    if !member.is_active() {
        return page(
            StatusCode::CONFLICT,
            "You are not subscribed",
            vec![format!(
                "{} is {}; subscribe again before choosing how to get mail.",
                member.email, member.status
            )],
            None,
            "",
        );
    }
    match membership::set_mode(&ctx, &member, mode).await {
        Ok(()) => page(
            StatusCode::OK,
            "Saved",
            vec![format!(
                "{} now gets: {}.",
                member.email,
                mode_label(mode).to_lowercase()
            )],
            None,
            "",
        ),
        Err(e) => server_error(e),
    }
}

/// RFC 8058 one-click: the body is `List-Unsubscribe=One-Click`, but any
/// POST to a valid token unsubscribes (a browser form posts nothing).
pub async fn unsubscribe(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let member = match membership::member_for_unsubscribe(&ctx, &token).await {
        Ok(Some(m)) => m,
        Ok(None) => return invalid_link(),
        Err(e) => return server_error(e),
    };
    match membership::leave(&ctx, &member, false, "web").await {
        Ok(_) => page(
            StatusCode::OK,
            "You are unsubscribed",
            vec![format!(
                "{} will receive no more mail from this list.",
                member.email
            )],
            None,
            "",
        ),
        Err(e) => server_error(e),
    }
}

/// The link in the notice to a member disabled by bounces: asks first, so
/// opening it (as mail scanners do) changes nothing.
pub async fn reactivate_page(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    match crate::notices::bounced::member_for_link(&ctx, &token).await {
        Ok(Some(m)) if m.status == MemberStatus::Disabled => page(
            StatusCode::OK,
            "Receive the list's mail again?",
            vec![format!(
                "Mail to {} bounced, so the list stopped sending to it. If the mailbox works again, press the button to receive the list's mail again.",
                m.email
            )],
            Some(format!("/reactivate/{token}")),
            "Send me the list's mail again",
        ),
        Ok(Some(m)) if m.is_active() => page(
            StatusCode::OK,
            "Your mail is on",
            vec![format!("{} receives the list's mail.", m.email)],
            None,
            "",
        ),
        Ok(Some(m)) => not_disabled(&m.email, m.status),
        Ok(None) => invalid_link(),
        Err(e) => server_error(e),
    }
}

pub async fn reactivate(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    use crate::notices::bounced::Reactivated;
    let member = match crate::notices::bounced::member_for_link(&ctx, &token).await {
        Ok(Some(m)) => m,
        Ok(None) => return invalid_link(),
        Err(e) => return server_error(e),
    };
    match crate::notices::bounced::reactivate(&ctx, &member).await {
        Ok(Reactivated::Now | Reactivated::AlreadyActive) => page(
            StatusCode::OK,
            "Your mail is on again",
            vec![format!(
                "{} will receive the list's mail again.",
                member.email
            )],
            None,
            "",
        ),
        Ok(Reactivated::NotDisabled(status)) => not_disabled(&member.email, status),
        Err(e) => server_error(e),
    }
}

/// A reactivation link for someone not disabled by bounces (they left,
/// or never confirmed): joining again is a subscription, not this link.
fn not_disabled(email: &str, status: MemberStatus) -> Response {
    page(
        StatusCode::CONFLICT,
        "Nothing to turn back on",
        vec![format!(
            "{email} is {status} on this list, not stopped by bounces; to join again, write to the list's subscribe address."
        )],
        None,
        "",
    )
}
