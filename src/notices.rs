//! Notices: the individual mails gazette sends in answer to something a
//! person did (confirmation, welcome, acknowledgement, …). Each is queued in
//! the outbox with a dedupe key derived from its cause, so handling the same
//! cause twice never sends the same notice twice.

use crate::app::{Ctx, List};
use crate::store::outbox::NewOutbox;
use serde::{Deserialize, Serialize};

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
    AnswerToAsker {
        answer_id: i64,
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
            Notice::NotMember { .. } => "not-member",
            Notice::DigestReady { .. } => "digest-ready",
            Notice::ConfirmLeave => "confirm-leave",
            Notice::DigestReply { .. } => "digest-reply",
            Notice::ConfirmExpired => "confirm-expired",
            Notice::ReplyHeld { .. } => "reply-held",
            Notice::SignIn { .. } => "sign-in",
            Notice::DigestTest { .. } => "digest-test",
            Notice::Held { .. } => "held",
            Notice::PostApproved { .. } => "post-approved",
            Notice::PostRejected { .. } => "post-rejected",
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
