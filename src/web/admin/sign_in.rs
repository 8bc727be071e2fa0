//! Signing in by email: the address form, the mailed one-time link (its
//! GET shows a button, so mail scanners that open links sign nobody in;
//! its POST signs in), and signing out.

use super::auth::{session_cookie, Posted, PublicForm, Signed};
use super::pages::{failed, message, render, see_other, Chrome};
use crate::app::Ctx;
use crate::editors::{self, LinkState, Requested};
use crate::email::EmailAddress;
use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

#[derive(Template)]
#[template(path = "web/admin/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    sent: bool,
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `/admin`: the editor's lists, or sign in.
pub async fn home(State(ctx): State<Ctx>, Signed(editor): Signed) -> Response {
    super::dashboard::lists(&ctx, &editor).await
}

pub async fn form(Query(q): Query<Done>) -> Response {
    render(
        StatusCode::OK,
        &SignInPage {
            chrome: Chrome::public("Sign in").after(q.done.as_deref()),
            email: String::new(),
            sent: false,
        },
    )
}

pub async fn request(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    PublicForm(form): PublicForm,
) -> Response {
    let typed = form.text("email");
    let Ok(email) = EmailAddress::parse(typed.trim()) else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignInPage {
                chrome: Chrome::public("Sign in").with_problem(format!(
                    "“{}” is not an email address. Type the address you use as an editor, like dana@example.org.",
                    typed.trim()
                )),
                email: typed,
                sent: false,
            },
        );
    };
    match editors::request_link(&ctx, &email, &client_key(peer.ip())).await {
        Ok(Requested::Throttled) => message(
            StatusCode::TOO_MANY_REQUESTS,
            Chrome::public("Wait a little"),
            "Too many sign-in requests",
            "Sign-in links were asked for too often lately, for this address or from your network. Wait fifteen minutes, then ask again; a link already sent still works.",
        ),
        Ok(Requested::Sent | Requested::NotEditor) => render(
            StatusCode::OK,
            &SignInPage {
                chrome: Chrome::public("Check your mail"),
                email: email.as_str().to_string(),
                sent: true,
            },
        ),
        Err(e) => failed(e),
    }
}

/// The client a throttle counts: an IPv4 address, or an IPv6 /64 (one
/// household or server usually has a whole /64).
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[derive(Template)]
#[template(path = "web/admin/sign_in_link.html")]
struct LinkPage {
    chrome: Chrome,
    email: String,
    action: String,
}

pub async fn link_page(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    match editors::check_link(&ctx, &token).await {
        Ok(LinkState::Valid(email)) => render(
            StatusCode::OK,
            &LinkPage {
                chrome: Chrome::public("Sign in"),
                email,
                action: format!("/admin/sign-in/{token}"),
            },
        ),
        Ok(state) => unusable(state),
        Err(e) => failed(e),
    }
}

pub async fn use_link(
    State(ctx): State<Ctx>,
    Path(token): Path<String>,
    PublicForm(_): PublicForm,
) -> Response {
    match editors::sign_in(&ctx, &token).await {
        Ok(Ok((cookie, editor))) => {
            tracing::info!(editor = %editor.email, "editor signed in");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, session_cookie(&ctx, Some(&cookie))),
                    (header::LOCATION, "/admin".to_string()),
                ],
            )
                .into_response()
        }
        Ok(Err(state)) => unusable(state),
        Err(e) => failed(e),
    }
}

fn unusable(state: LinkState) -> Response {
    let (status, heading, text) = match state {
        LinkState::Used => (
            StatusCode::GONE,
            "This link was used already",
            "Each sign-in link works once. Ask for a new one below.",
        ),
        LinkState::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Sign-in links work for 15 minutes. Ask for a new one below.",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you copied the whole link from the mail, or ask for a new one below.",
        ),
    };
    render(
        status,
        &super::pages::MessagePage {
            chrome: Chrome::public(heading),
            heading,
            text,
            link: Some((super::auth::SIGN_IN.into(), "Ask for a new link".into())),
        },
    )
}

pub async fn sign_out(State(ctx): State<Ctx>, Posted(editor, _): Posted) -> Response {
    if let Err(e) = editors::sign_out(&ctx, &editor).await {
        return failed(e);
    }
    let mut res = see_other(super::auth::SIGN_IN, "signed-out");
    if let Ok(v) = session_cookie(&ctx, None).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
