//! Notices: the individual mails gazette sends in answer to something a
//! person did (confirmation, welcome, acknowledgement, …). Each is queued in
//! the outbox with a dedupe key derived from its cause, so handling the same
//! cause twice never sends the same notice twice.
//!
//! Every recipient has a budget: most notices go at most once per window
//! to one address ([`send_throttled`]), answers to a question reach its
//! asker folded into one notice an hour ([`answers`]), acknowledgements
//! of questions are bounded per member per day ([`acknowledge`]). A
//! subject quoted in a notice is one line of at most
//! [`QUOTED_SUBJECT_CHARS`] characters ([`quoted_subject`]). A member
//! disabled by bounces is told once ([`bounced`]).

pub mod answers;
pub mod bounced;

use crate::app::{Ctx, List};
use crate::store::outbox::NewOutbox;
use serde::{Deserialize, Serialize};

/// The longest subject a notice quotes.
pub const QUOTED_SUBJECT_CHARS: usize = 80;

/// A subject as a notice quotes it: one line, no control characters, at
/// most [`QUOTED_SUBJECT_CHARS`] characters.
pub fn quoted_subject(subject: &str) -> String {
    crate::redact::one_line(subject, QUOTED_SUBJECT_CHARS)
}

/// Questions a member gets an acknowledgement for in 24 hours; later ones
/// are posted without one (it is a courtesy: the question is in the
/// digest either way).
pub const ACKS_PER_DAY: usize = 3;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    Confirm,
    Welcome,
    AlreadySubscribed,
    Goodbye,
    Help,
    QuestionPosted {
        question_id: i64,
    },
    /// One answer, as notices queued before answers were folded said.
    AnswerToAsker {
        answer_id: i64,
    },
    /// The answers to the asker's question with ids in (after, through].
    AnswersToAsker {
        question_id: i64,
        after: i64,
        through: i64,
    },
    NotMember {
        subject: String,
    },
    DigestReady {
        digest_id: i64,
        awaiting_approval: bool,
    },
    /// An unsubscribe request whose sender could not be trusted: the member
    /// confirms with the one-click link.
    ConfirmLeave,
    /// A reply to the digest as a whole: how to answer one question.
    DigestReply {
        subject: String,
    },
    /// A confirmation that came too late.
    ConfirmExpired,
    /// An answer that was held, and why, so its author is not left
    /// believing it was posted.
    ReplyHeld {
        subject: String,
        why: String,
    },
    /// A reply to an address that expired, with a fresh one.
    ReplyExpired {
        question_id: i64,
    },
    /// An editor's one-time sign-in link.
    SignIn {
        link_id: i64,
    },
    /// The open issue as member `member_id` would get it, to an editor,
    /// marked as a test.
    DigestTest {
        digest_id: i64,
        member_id: i64,
    },
    /// To editors: a post is held for moderation, with reply addresses
    /// that approve or reject it.
    Held {
        inbound_id: i64,
    },
    /// To the author of a held post an editor approved.
    PostApproved {
        what: String,
        subject: String,
    },
    /// To the author of a held post an editor rejected, with their note.
    PostRejected {
        what: String,
        subject: String,
        note: String,
    },
    /// To a member disabled by bounces: mail stopped, and a link to turn it
    /// back on ([`bounced`]).
    DisabledByBounces,
}

impl Notice {
    pub fn name(&self) -> &'static str {
        match self {
            Notice::Confirm => "confirm",
            Notice::Welcome => "welcome",
            Notice::AlreadySubscribed => "already",
            Notice::Goodbye => "goodbye",
            Notice::Help => "help",
            Notice::QuestionPosted { .. } => "question-posted",
            Notice::AnswerToAsker { .. } => "answer-to-asker",
            Notice::AnswersToAsker { .. } => "answers-to-asker",
            Notice::NotMember { .. } => "not-member",
            Notice::DigestReady { .. } => "digest-ready",
            Notice::ConfirmLeave => "confirm-leave",
            Notice::DigestReply { .. } => "digest-reply",
            Notice::ConfirmExpired => "confirm-expired",
            Notice::ReplyHeld { .. } => "reply-held",
            Notice::ReplyExpired { .. } => "reply-expired",
            Notice::SignIn { .. } => "sign-in",
            Notice::DigestTest { .. } => "digest-test",
            Notice::Held { .. } => "held",
            Notice::PostApproved { .. } => "post-approved",
            Notice::PostRejected { .. } => "post-rejected",
            Notice::DisabledByBounces => "disabled-by-bounces",
        }
    }
}

/// Whether a notice queued with this dedupe key answers a message someone
/// sent (its cause is `inbound:<id>`): RFC 3834's `auto-replied`, where
/// everything else is `auto-generated`.
pub fn replies_to_message(dedupe_key: &str) -> bool {
    dedupe_key.split(':').nth(2) == Some("inbound")
}

/// Queues `notice` to `to`; `cause` names what triggered it (e.g.
/// `inbound:42`) and makes the queueing idempotent.
pub async fn send(
    ctx: &Ctx,
    list: &List,
    to: &str,
    member_id: Option<i64>,
    notice: &Notice,
    cause: &str,
) -> crate::store::Result<bool> {
    let payload = serde_json::to_string(notice).expect("notices serialise");
    let key = format!("notice:{}:{}:{}", notice.name(), cause, to.to_lowercase());
    let queued = ctx
        .store
        .enqueue(&NewOutbox {
            dedupe_key: &key,
            list_id: list.id(),
            member_id,
            recipient: to,
            kind: crate::store::OutboxKind::Notice,
            ref_id: None,
            payload: &payload,
        })
        .await?;
    if queued {
        ctx.outbox_wake.notify_waiters();
    }
    Ok(queued)
}

/// Sends `notice` unless one of `kind` went to `key` (an address) within
/// `window_ms`. The throttle is taken only once the notice is queued, so a
/// failure in between leaves it free for the retry (which the outbox's
/// dedupe key keeps from sending twice). Returns whether it was sent.
#[allow(clippy::too_many_arguments)]
pub async fn send_throttled(
    ctx: &Ctx,
    list: &List,
    to: &str,
    member_id: Option<i64>,
    notice: &Notice,
    cause: &str,
    kind: &str,
    window_ms: i64,
) -> crate::store::Result<bool> {
    let key = to.to_lowercase();
    let since = crate::now_ms() - window_ms;
    if !ctx
        .store
        .throttle_free(list.id(), &key, kind, since)
        .await?
    {
        return Ok(false);
    }
    // Queued before (the same cause handled again): its throttle was
    // taken then.
    if send(ctx, list, to, member_id, notice, cause).await? {
        ctx.store
            .take_throttle(list.id(), &key, kind, window_ms)
            .await?;
    }
    Ok(true)
}

/// Acknowledges question `question_id` to its author, within
/// [`ACKS_PER_DAY`]; returns whether it was sent.
pub async fn acknowledge(
    ctx: &Ctx,
    list: &List,
    author: &crate::store::members::MemberRow,
    question_id: i64,
) -> crate::store::Result<bool> {
    let notice = Notice::QuestionPosted { question_id };
    let cause = format!("question:{question_id}");
    // One throttle slot per acknowledgement of the day.
    for slot in 1..=ACKS_PER_DAY {
        let kind = format!("ack-{slot}");
        if send_throttled(
            ctx,
            list,
            &author.email,
            Some(author.id),
            &notice,
            &cause,
            &kind,
            DAY_MS,
        )
        .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
