//! What every editor page shares: the frame around it ([`Chrome`]: title,
//! who is signed in, the list's navigation, a message after an action),
//! rendering, and the error pages.

use crate::app::List;
use crate::editors::Editor;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The list a page is about, for the navigation.
pub struct ListNav {
    pub address: String,
    pub name: String,
    /// Held posts waiting, shown on the navigation.
    pub held: i64,
}

/// The frame of a page.
pub struct Chrome {
    pub title: String,
    /// The signed-in editor ("" on public pages).
    pub email: String,
    pub token: String,
    pub list: Option<ListNav>,
    /// Which navigation entry is this page's.
    pub section: &'static str,
    /// A message after an action ("Saved."), shown as a status.
    pub notice: String,
    /// A problem the editor should see (a refused save).
    pub problem: String,
}

impl Chrome {
    pub fn public(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            email: String::new(),
            token: String::new(),
            list: None,
            section: "",
            notice: String::new(),
            problem: String::new(),
        }
    }

    pub fn editor(title: &str, editor: &Editor) -> Chrome {
        Chrome {
            email: editor.email.clone(),
            token: editor.form_token.clone(),
            ..Chrome::public(title)
        }
    }

    /// A page of `list`'s section `section`.
    pub async fn list(
        title: &str,
        editor: &Editor,
        list: &List,
        section: &'static str,
        ctx: &crate::app::Ctx,
    ) -> Chrome {
        let held = crate::moderation::held_posts(ctx, list)
            .await
            .map(|h| h.len() as i64)
            .unwrap_or(0);
        Chrome {
            list: Some(ListNav {
                address: list.posting(),
                name: list.name().to_string(),
                held,
            }),
            section,
            ..Chrome::editor(title, editor)
        }
    }

    /// With the message that `done` (from a redirect after an action) names.
    pub fn after(mut self, done: Option<&str>) -> Chrome {
        self.notice = done_message(done.unwrap_or("")).to_string();
        self
    }

    pub fn with_problem(mut self, problem: impl Into<String>) -> Chrome {
        self.problem = problem.into();
        self
    }
}

/// What an action did, by the code its redirect carries (codes, not text,
/// so a link cannot make a page say anything).
fn done_message(code: &str) -> &'static str {
    match code {
        "saved" => "Saved.",
        "left-out" => "Left out of this issue. It stays for the next one.",
        "included" => "Put back in this issue.",
        "moved" => "Moved.",
        "featured" => "Featured as an editor's pick.",
        "unfeatured" => "No longer featured.",
        "answers" => "Saved which answers show.",
        "test-sent" => "A test copy is on its way to you. Members were not sent anything.",
        "approved" => "Approved. It goes out at its scheduled time.",
        "sent" => "Sent: the issue is going out to members now.",
        "approved-post" => "Approved and posted. The author was told.",
        "rejected-post" => "Turned down. The author was told.",
        "decided" => "Another editor decided on that post first.",
        "added" => "Added.",
        "invited" => "Asked to confirm: they join when they answer the mail.",
        "removed" => "Unsubscribed. They were not sent a goodbye.",
        "mode" => "Delivery changed.",
        "imported" => "Imported.",
        "retried" => "Failed deliveries are queued again.",
        "settings" => "Settings saved.",
        "signed-out" => "You are signed out.",
        _ => "",
    }
}

pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                ("cache-control", "no-store"),
                ("x-frame-options", "SAMEORIGIN"),
                ("referrer-policy", "same-origin"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => failed(anyhow::anyhow!("template: {e}")),
    }
}

#[derive(Template)]
#[template(path = "web/admin/message.html")]
pub struct MessagePage<'a> {
    pub chrome: Chrome,
    pub heading: &'a str,
    pub text: &'a str,
    /// (href, label) of a way on.
    pub link: Option<(String, String)>,
}

/// A page that says one thing.
pub fn message(status: StatusCode, chrome: Chrome, heading: &str, text: &str) -> Response {
    render(
        status,
        &MessagePage {
            chrome,
            heading,
            text,
            link: None,
        },
    )
}

/// 404 for a page that does not exist or belongs to a list the editor
/// does not edit: both look the same.
pub fn not_found(editor: &Editor) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            chrome: Chrome::editor("Not found", editor),
            heading: "Not found",
            text: "There is no such page among the lists you edit.",
            link: Some(("/admin".into(), "Your lists".into())),
        },
    )
}

pub fn failed(e: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "editor page failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        Chrome::public("Something went wrong"),
        "Something went wrong",
        "Nothing you did is lost. Try again in a moment; if it keeps happening, the operator will find the details in gazette's log.",
    )
}

/// `303 See Other` to `to` (after a form), with `done` naming the message.
pub fn see_other(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let location = if done.is_empty() {
        to.to_string()
    } else {
        format!("{to}{sep}done={done}")
    };
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response()
}

/// A stored time in the list's time zone, for people ("Mon 7 Dec 2026,
/// 08:00 CET"); "—" for none.
pub fn when(list: &List, ms: Option<i64>) -> String {
    use chrono::TimeZone;
    let tz = crate::digest::schedule::parse_timezone(&list.row.timezone).unwrap_or(chrono_tz::UTC);
    ms.and_then(|ms| tz.timestamp_millis_opt(ms).single())
        .map(|t| t.format("%a %-d %b %Y, %H:%M %Z").to_string())
        .unwrap_or_else(|| "—".into())
}
