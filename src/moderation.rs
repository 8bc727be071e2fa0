//! Moderation: posts held for an editor (a question from someone who is
//! not a member, an answer whose sender does not match its reply address,
//! a reply to the digest as a whole, ...), told to the editors once with
//! reply addresses that approve or reject, and decided in the browser or
//! by mail.
//!
//! A non-member's approved post needs an author row (`questions.member_id`
//! is required): they become a member row with status `guest`, which is
//! never mailed as a member and turns pending like anyone else's if they
//! subscribe later. Their name in the digest is the one their mail gave.

use crate::address::Command;
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::notices::{self, Notice};
use crate::posts::{self, Post};
use crate::store::members::MemberRow;
use crate::store::moderation::HeldRow;
use crate::store::InboundStatus;
use crate::tokens::Purpose;
use mail_parser::MessageParser;

/// Held posts received this long ago or less are told to the editors
/// (older ones, say at an upgrade, are only on the page).
const NOTIFY_WITHIN_MS: i64 = 7 * 24 * 3600 * 1000;

/// What a held post would become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldKind {
    Question,
    Answer { question_id: i64 },
}

impl HeldKind {
    pub fn noun(self) -> &'static str {
        match self {
            HeldKind::Question => "question",
            HeldKind::Answer { .. } => "answer",
        }
    }
}

/// A held post, read from the stored message.
#[derive(Debug, Clone)]
pub struct HeldPost {
    pub inbound_id: i64,
    pub kind: HeldKind,
    /// The From address.
    pub from: String,
    pub name: String,
    pub subject: String,
    /// What the author wrote (quoted history and signature trimmed).
    pub body: String,
    pub message_id: String,
    pub reason: String,
    pub received_at: i64,
}

/// The held posts of `list`, oldest first (mail held for other reasons,
/// such as mail to postmaster@, is not a post and is not here).
pub async fn held_posts(ctx: &Ctx, list: &List) -> anyhow::Result<Vec<HeldPost>> {
    let mut out = Vec::new();
    for row in ctx.store.held_inbound(list.id(), 200).await? {
        if let Some(p) = read(ctx, list, &row).await? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Held post `inbound_id` of `list`, if it is one and still held.
pub async fn held_post(
    ctx: &Ctx,
    list: &List,
    inbound_id: i64,
) -> anyhow::Result<Option<HeldPost>> {
    match ctx.store.held_one(list.id(), inbound_id).await? {
        Some(row) => read(ctx, list, &row).await,
        None => Ok(None),
    }
}

async fn read(ctx: &Ctx, list: &List, row: &HeldRow) -> anyhow::Result<Option<HeldPost>> {
    let Some(raw) = ctx.store.inbound_raw(row.id).await? else {
        return Ok(None);
    };
    let Some(msg) = MessageParser::default().parse(&raw) else {
        return Ok(None);
    };
    let Some(from) = msg.from().and_then(|f| f.first()) else {
        return Ok(None);
    };
    let Some(address) = from.address().and_then(|a| EmailAddress::parse(a).ok()) else {
        return Ok(None);
    };
    let kind = match list.address.route(&row.rcpt_to) {
        Some(Command::Post) => match threaded_question(ctx, list, &msg).await? {
            Some(q) => HeldKind::Answer { question_id: q },
            None => HeldKind::Question,
        },
        Some(Command::Reply(token)) => match ctx.keys.verify(Purpose::Reply, &token, 2) {
            Some(ids) => match ctx.store.question(ids[0]).await? {
                Some(q) if q.list_id == list.id() => HeldKind::Answer { question_id: q.id },
                _ => return Ok(None),
            },
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let mut body = crate::inbound::body::answer_text(&msg);
    if body.trim().is_empty() && kind == HeldKind::Question {
        body = msg
            .body_text(0)
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
    }
    if body.trim().is_empty() {
        return Ok(None); // nothing an editor could post
    }
    let message_id = match msg
        .message_id()
        .filter(|id| !id.is_empty() && id.len() < 250 && !id.contains(['<', '>', ' ']))
    {
        Some(id) => format!("<{id}>"),
        None => format!(
            "<{}.{}@{}>",
            if kind == HeldKind::Question { "q" } else { "a" },
            row.id,
            list.address.domain()
        ),
    };
    Ok(Some(HeldPost {
        inbound_id: row.id,
        kind,
        from: address.as_str().to_string(),
        name: from.name().unwrap_or("").trim().to_string(),
        subject: msg.subject().unwrap_or("").trim().to_string(),
        body,
        message_id,
        reason: row.reason.clone(),
        received_at: row.received_at,
    }))
}

/// The question of `list` a reply's In-Reply-To or References names.
async fn threaded_question(
    ctx: &Ctx,
    list: &List,
    msg: &mail_parser::Message<'_>,
) -> anyhow::Result<Option<i64>> {
    let mut ids: Vec<String> = Vec::new();
    for v in [msg.in_reply_to(), msg.references()] {
        match v {
            mail_parser::HeaderValue::Text(t) => ids.push(t.to_string()),
            mail_parser::HeaderValue::TextList(l) => ids.extend(l.iter().map(|t| t.to_string())),
            _ => {}
        }
    }
    for id in ids {
        let id = format!("<{}>", id.trim().trim_matches(['<', '>']));
        if let Some(q) = ctx.store.thread_question(list.id(), &id).await? {
            return Ok(Some(q));
        }
    }
    Ok(None)
}

/// What became of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Posted as question or answer `id`.
    Posted {
        kind: HeldKind,
        id: i64,
    },
    Rejected,
    /// Not held any more: another editor decided first.
    AlreadyDecided,
}

/// Posts held post `inbound_id`; its author is told.
pub async fn approve(
    ctx: &Ctx,
    list: &List,
    inbound_id: i64,
    editor: &str,
) -> anyhow::Result<Decided> {
    let Some(post) = held_post(ctx, list, inbound_id).await? else {
        return Ok(Decided::AlreadyDecided);
    };
    let reason = format!("approved by {editor}");
    // Claimed first, so a rejection racing this one cannot also win.
    if !ctx
        .store
        .decide_held(inbound_id, InboundStatus::Accepted, &reason)
        .await?
    {
        return Ok(Decided::AlreadyDecided);
    }
    match publish(ctx, list, &post).await {
        Ok(decided) => {
            if let Decided::Posted { kind, id } = &decided {
                let reason = format!("{reason}; {} {id} posted", kind.noun());
                ctx.store
                    .set_inbound_outcome(
                        inbound_id,
                        &crate::store::inbound::Outcome {
                            list_id: Some(list.id()),
                            kind: crate::store::InboundKind::Ordinary,
                            status: InboundStatus::Accepted,
                            reason,
                        },
                    )
                    .await?;
            }
            Ok(decided)
        }
        Err(e) => {
            // Held again, so it is not lost; the editor sees the error.
            let back = crate::store::inbound::Outcome {
                list_id: Some(list.id()),
                kind: crate::store::InboundKind::Ordinary,
                status: InboundStatus::Held,
                reason: post.reason.clone(),
            };
            ctx.store.set_inbound_outcome(inbound_id, &back).await?;
            Err(e)
        }
    }
}

async fn publish(ctx: &Ctx, list: &List, post: &HeldPost) -> anyhow::Result<Decided> {
    let email = EmailAddress::parse(&post.from)?;
    let author = author(ctx, list, &email, &post.name).await?;
    let p = Post {
        inbound_id: Some(post.inbound_id),
        subject: &post.subject,
        body: &post.body,
        message_id: &post.message_id,
    };
    let (kind, id) = match post.kind {
        HeldKind::Question => (post.kind, posts::ask(ctx, list, &author, &p).await?),
        HeldKind::Answer { question_id } => {
            let q = ctx
                .store
                .question(question_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("question {question_id} no longer exists"))?;
            (post.kind, posts::answer(ctx, list, &q, &author, &p).await?)
        }
    };
    // An active member's question is acknowledged by `ask` already.
    if !(author.is_active() && kind == HeldKind::Question) {
        let notice = Notice::PostApproved {
            what: kind.noun().into(),
            subject: subject_or_question(ctx, post).await?,
        };
        let cause = format!("moderation:{}", post.inbound_id);
        notices::send(ctx, list, &author.email, None, &notice, &cause).await?;
    }
    Ok(Decided::Posted { kind, id })
}

/// The author of an approved post: their member row, or a new guest row.
async fn author(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
    name: &str,
) -> anyhow::Result<MemberRow> {
    Ok(ctx
        .store
        .member_or_guest(list.id(), email.as_str(), &email.key(), name)
        .await?)
}

async fn subject_or_question(ctx: &Ctx, post: &HeldPost) -> anyhow::Result<String> {
    if let HeldKind::Answer { question_id } = post.kind {
        if let Some(q) = ctx.store.question(question_id).await? {
            return Ok(q.subject);
        }
    }
    Ok(post.subject.clone())
}

/// Turns held post `inbound_id` down; its author is told, with `note`
/// when the editor wrote one.
pub async fn reject(
    ctx: &Ctx,
    list: &List,
    inbound_id: i64,
    editor: &str,
    note: &str,
) -> anyhow::Result<Decided> {
    let Some(post) = held_post(ctx, list, inbound_id).await? else {
        return Ok(Decided::AlreadyDecided);
    };
    let note = note.trim();
    let reason = if note.is_empty() {
        format!("rejected by {editor}")
    } else {
        format!("rejected by {editor}: {}", excerpt(note, 200))
    };
    if !ctx
        .store
        .decide_held(inbound_id, InboundStatus::Rejected, &reason)
        .await?
    {
        return Ok(Decided::AlreadyDecided);
    }
    let notice = Notice::PostRejected {
        what: post.kind.noun().into(),
        subject: subject_or_question(ctx, &post).await?,
        note: note.to_string(),
    };
    let cause = format!("moderation:{inbound_id}");
    notices::send(ctx, list, &post.from, None, &notice, &cause).await?;
    Ok(Decided::Rejected)
}

/// Mail to `approve-<token>` or `reject-<token>`: an editor deciding by
/// reply. The sender must be an editor of the list; a reject's text is
/// the note to the author.
pub async fn by_mail(
    ctx: &Ctx,
    list: &List,
    command: &Command,
    from: &EmailAddress,
    note: &str,
) -> anyhow::Result<Result<Decided, String>> {
    let (purpose, token) = match command {
        Command::Approve(t) => (Purpose::Approve, t),
        Command::Reject(t) => (Purpose::Reject, t),
        _ => return Ok(Err("not a moderation address".into())),
    };
    let Some(ids) = ctx.keys.verify(purpose, token, 1) else {
        return Ok(Err("moderation token failed verification".into()));
    };
    let editors = ctx.store.editors(list.id()).await?;
    let is_editor = editors
        .iter()
        .any(|e| e.eq_ignore_ascii_case(from.as_str()))
        || ctx.store.is_admin(&from.key()).await?;
    if !is_editor {
        return Ok(Err(format!(
            "{from} is not an editor of {}; moderation replies only count from editors",
            list.posting()
        )));
    }
    let decided = match purpose {
        Purpose::Approve => approve(ctx, list, ids[0], from.as_str()).await?,
        _ => reject(ctx, list, ids[0], from.as_str(), note).await?,
    };
    Ok(Ok(decided))
}

/// Tells each list's editors about posts held since the last pass, once
/// each (several processes may run this; one tells). Returns how many.
pub async fn notify_held(ctx: &Ctx) -> anyhow::Result<usize> {
    let mut told = 0;
    let since = crate::now_ms() - NOTIFY_WITHIN_MS;
    for (inbound_id, list_id) in ctx.store.unnotified_held(since).await? {
        if !ctx.store.mark_held_notified(inbound_id).await? {
            continue;
        }
        let Some(row) = ctx.store.list_by_id(list_id).await? else {
            continue;
        };
        let list = ctx.list(row);
        if held_post(ctx, &list, inbound_id).await?.is_none() {
            continue; // held, but not a post
        }
        let mut to = ctx.store.editors(list_id).await?;
        for a in ctx.store.admins().await? {
            if !to.iter().any(|e| e.eq_ignore_ascii_case(&a)) {
                to.push(a);
            }
        }
        for editor in to {
            let cause = format!("held:{inbound_id}");
            notices::send(
                ctx,
                &list,
                &editor,
                None,
                &Notice::Held { inbound_id },
                &cause,
            )
            .await?;
        }
        told += 1;
    }
    Ok(told)
}

/// At most `max` characters of `text`, cut at a word, with "…" when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let at = cut.rfind(char::is_whitespace).unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}
