//! Rendering: one outbox row → one message for its recipient, with that
//! recipient's reply tokens and unsubscribe link. Rendering happens at send
//! time, so a delivery always reflects the member's current state.

mod digest;
mod notices;

pub use digest::{digest_bodies, digest_bodies_issued, DigestParts};

use super::compose::{ListHeaders, Outgoing};
use super::text::{linkify, paragraphs, reply_subject, wrap};
use super::views::*;
use crate::address::Command;
use crate::app::{Ctx, List};
use crate::notices::Notice;
use crate::store::members::MemberRow;
use crate::store::outbox::OutboxRow;
use crate::store::{MemberStatus, OutboxKind};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The delivery no longer makes sense (member left, post deleted): cancel it.
    #[error("cancelled: {0}")]
    Cancelled(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for RenderError {
    fn from(e: crate::store::StoreError) -> Self {
        RenderError::Other(e.into())
    }
}

impl From<askama::Error> for RenderError {
    fn from(e: askama::Error) -> Self {
        RenderError::Other(anyhow::anyhow!("template error: {e}"))
    }
}

type R<T> = Result<T, RenderError>;

fn cancelled<T>(why: impl Into<String>) -> R<T> {
    Err(RenderError::Cancelled(why.into()))
}

/// Everything rendering needs about one row.
struct Env<'a> {
    ctx: &'a Ctx,
    list: List,
    row: &'a OutboxRow,
    member: Option<MemberRow>,
}

impl Env<'_> {
    fn active_member(&self) -> R<&MemberRow> {
        match &self.member {
            Some(m) if m.status == MemberStatus::Active => Ok(m),
            Some(m) => cancelled(format!("member {} is {}", m.email, m.status)),
            None => cancelled("the member no longer exists"),
        }
    }

    fn unsubscribe_url(&self, m: &MemberRow) -> String {
        self.list.unsubscribe_url(&self.ctx.keys, m.id)
    }

    fn list_headers(&self, m: &MemberRow) -> ListHeaders {
        ListHeaders {
            list_id: self.list.list_id_header(),
            unsubscribe_mailto: self.list.command(&Command::Unsubscribe),
            unsubscribe_url: self.unsubscribe_url(m),
            post: Some(self.list.posting()),
            help: Some(self.list.command(&Command::Help)),
        }
    }

    fn base(&self, subject: String, text: String) -> Outgoing {
        Outgoing {
            from_name: self.list.name().to_string(),
            from_addr: self.list.posting(),
            to: self.row.recipient.clone(),
            reply_to: None,
            subject,
            text,
            html: None,
            message_id: self
                .list
                .message_id(&self.ctx.keys, self.row.kind.as_str(), self.row.id),
            in_reply_to: None,
            references: Vec::new(),
            list: None,
            auto_submitted: None,
            bulk: false,
            encoded: None,
        }
    }
}

/// Renders `row`; the envelope sender is its VERP bounce address.
pub async fn render(ctx: &Ctx, row: &OutboxRow) -> R<(Outgoing, String)> {
    let member = match row.member_id {
        Some(id) => ctx.store.member(id).await?,
        None => None,
    };
    render_for(ctx, row, member).await
}

/// [`render`] with the row's member already read (workers read a whole
/// batch's members at once); `None` when there is none, or no longer.
pub async fn render_for(
    ctx: &Ctx,
    row: &OutboxRow,
    member: Option<MemberRow>,
) -> R<(Outgoing, String)> {
    let Some(list_row) = ctx.render_cache.list(&ctx.store, row.list_id).await? else {
        return cancelled("the list no longer exists");
    };
    let env = Env {
        ctx,
        list: ctx.list(list_row),
        row,
        member,
    };
    let out = match row.kind {
        OutboxKind::Digest => digest::digest(&env).await?,
        OutboxKind::Post => post(&env).await?,
        OutboxKind::Answer => answer(&env).await?,
        OutboxKind::Notice => {
            let notice: Notice = serde_json::from_str(&row.payload).map_err(|e| {
                anyhow::anyhow!("outbox row {} has a bad notice payload: {e}", row.id)
            })?;
            notices::notice_message(&env, &notice).await?
        }
    };
    Ok((out, env.list.bounce_address(&ctx.keys, row.id)))
}

/// When the next digest is due, for people: "Monday 7 December 2026 at
/// 08:00 (Europe/Paris)".
fn next_digest_words(l: &List) -> String {
    use chrono::TimeZone;
    let tz = crate::digest::schedule::parse_timezone(&l.row.timezone).unwrap_or(chrono_tz::UTC);
    l.row
        .next_digest_at
        .and_then(|ms| tz.timestamp_millis_opt(ms).single())
        .map(|t| format!("{} ({})", t.format("%A %-d %B %Y at %H:%M"), l.row.timezone))
        .unwrap_or_else(|| "when the editors send it".into())
}

async fn question_and_answer(
    env: &Env<'_>,
    answer_id: i64,
) -> R<(
    crate::store::posts::QuestionRow,
    crate::store::posts::AnswerRow,
)> {
    let Some(a) = env.ctx.store.answer(answer_id).await? else {
        return cancelled("the answer no longer exists");
    };
    let Some(q) = env.ctx.store.question(a.question_id).await? else {
        return cancelled("the question no longer exists");
    };
    Ok((q, a))
}

/// A question, sent at once to a member in "every post" mode.
async fn post(env: &Env<'_>) -> R<Outgoing> {
    let m = env.active_member()?;
    let Some(q) = env.ctx.store.question(env.row.ref_id.unwrap_or(0)).await? else {
        return cancelled("the question no longer exists");
    };
    let author = crate::digest::display_name(&q.author_name, &q.author_email);
    let subject = format!("[{}] {}", env.list.name(), q.subject);
    let mut o = copy(
        env,
        m,
        &author,
        &format!("{author} asks:"),
        &q.body,
        subject,
        q.id,
    )?;
    o.message_id = q.message_id;
    Ok(o)
}

/// An answer, sent at once to a member in "every post" mode.
async fn answer(env: &Env<'_>) -> R<Outgoing> {
    let m = env.active_member()?;
    let (q, a) = question_and_answer(env, env.row.ref_id.unwrap_or(0)).await?;
    let author = crate::digest::display_name(&a.author_name, &a.author_email);
    let heading = format!("{author} answered \"{}\":", q.subject);
    let subject = reply_subject(&format!("[{}] {}", env.list.name(), q.subject));
    let mut o = copy(env, m, &author, &heading, &a.body, subject, q.id)?;
    o.message_id = a.message_id;
    o.in_reply_to = Some(q.message_id.clone());
    o.references = vec![q.message_id];
    Ok(o)
}

/// A post's copy for every-post member `m`: from the author "via" the
/// list, replies going to the question's reply address for `m`.
fn copy(
    env: &Env<'_>,
    m: &MemberRow,
    author: &str,
    heading: &str,
    body: &str,
    subject: String,
    question_id: i64,
) -> R<Outgoing> {
    let body = wrap(body, 72, "");
    let text = PostTxt {
        list_name: env.list.name(),
        heading,
        body: &body,
        unsubscribe_url: &env.unsubscribe_url(m),
    }
    .render()?;
    let mut o = env.base(subject, text);
    o.from_name = format!("{author} via {}", env.list.name());
    o.reply_to = Some(
        env.list
            .reply_address(&env.ctx.keys, question_id, m.id, env.row.created_at),
    );
    o.list = Some(env.list_headers(m));
    o.bulk = true;
    Ok(o)
}

/// A post's paragraphs as HTML: escaped, lines joined with `<br>`, URLs
/// made links.
pub fn html_paragraphs(text: &str) -> Vec<String> {
    paragraphs(text)
        .iter()
        .map(|p| {
            p.iter()
                .map(|line| linkify(line))
                .collect::<Vec<_>>()
                .join("<br>")
        })
        .collect()
}
