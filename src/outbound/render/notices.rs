//! The notices gazette sends in answer to something a person did
//! (confirmation, welcome, acknowledgement, ...), rendered for their
//! recipient.

use super::{cancelled, next_digest_words, question_and_answer, Env, R};
use crate::address::Command;
use crate::app::List;
use crate::digest::Issue;
use crate::notices::quoted_subject;
use crate::notices::Notice;
use crate::outbound::compose::{AutoSubmitted, Outgoing};
use crate::outbound::text::{reply_subject, wrap};
use crate::outbound::views::*;
use askama::Template;

/// A notice: one small function per kind, each building its text from
/// its template in `templates/email/`.
pub(super) async fn notice_message(env: &Env<'_>, notice: &Notice) -> R<Outgoing> {
    let mut out = match notice {
        Notice::Confirm => confirm(env).await?,
        Notice::Welcome => welcome(env).await?,
        Notice::AlreadySubscribed => already_subscribed(env).await?,
        Notice::Goodbye => goodbye(env).await?,
        Notice::Help => help(env).await?,
        Notice::NotMember { subject } => not_member(env, subject).await?,
        Notice::QuestionPosted { question_id } => question_posted(env, *question_id).await?,
        Notice::AnswerToAsker { answer_id } => answer_to_asker(env, *answer_id).await?,
        Notice::AnswersToAsker {
            question_id,
            after,
            through,
        } => answers_to_asker(env, *question_id, *after, *through).await?,
        Notice::ReplyExpired { question_id } => reply_expired(env, *question_id).await?,
        Notice::DigestReady {
            digest_id,
            awaiting_approval,
        } => digest_ready(env, *digest_id, *awaiting_approval).await?,
        Notice::ConfirmLeave => confirm_leave(env).await?,
        Notice::DigestReply { subject } => digest_reply(env, subject).await?,
        Notice::ConfirmExpired => confirm_expired(env).await?,
        Notice::ReplyHeld { subject, why } => reply_held(env, subject, why).await?,
        Notice::SignIn { link_id } => sign_in(env, *link_id).await?,
        Notice::DigestTest {
            digest_id,
            member_id,
        } => digest_test(env, *digest_id, *member_id).await?,
        Notice::Held { inbound_id } => held(env, *inbound_id).await?,
        Notice::PostApproved { what, subject } => moderated(env, what, subject, None)?,
        Notice::PostRejected {
            what,
            subject,
            note,
        } => moderated(env, what, subject, Some(note))?,
        Notice::DisabledByBounces => disabled(env)?,
    };
    // RFC 3834: robots must not answer these.
    out.auto_submitted = Some(if crate::notices::replies_to_message(&env.row.dedupe_key) {
        AutoSubmitted::Replied
    } else {
        AutoSubmitted::Generated
    });
    Ok(out)
}

/// What every notice needs: the list, its name and address, the recipient.
fn parts<'e>(env: &'e Env<'_>) -> (&'e List, &'e str, String, &'e str) {
    let l = &env.list;
    (l, l.name(), l.posting(), env.row.recipient.as_str())
}

async fn confirm(env: &Env<'_>) -> R<Outgoing> {
    let (l, name, addr, to) = parts(env);
    let m = match &env.member {
        Some(m) if m.status == crate::store::MemberStatus::Pending => m,
        _ => return cancelled("no pending subscription to confirm"),
    };
    let url = l.confirm_url(&env.ctx.keys, m.id, m.requested_at);
    let text = ConfirmTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        confirm_url: &url,
    }
    .render()?;
    let mut o = env.base(format!("Confirm your subscription to {name}"), text);
    o.reply_to = Some(l.confirm_address(&env.ctx.keys, m.id, m.requested_at));
    Ok(o)
}

async fn welcome(env: &Env<'_>) -> R<Outgoing> {
    let (l, name, addr, to) = parts(env);
    let m = env.active_member()?;
    let next_digest = next_digest_words(l);
    let text = WelcomeTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        next_digest: &next_digest,
        unsubscribe_url: &env.unsubscribe_url(m),
        unsubscribe_address: &l.command(&Command::Unsubscribe),
    }
    .render()?;
    let mut o = env.base(format!("Welcome to {name}"), text);
    o.list = Some(env.list_headers(m));
    Ok(o)
}

async fn already_subscribed(env: &Env<'_>) -> R<Outgoing> {
    let (_, name, addr, to) = parts(env);
    let m = env.active_member()?;
    let text = AlreadyTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        unsubscribe_url: &env.unsubscribe_url(m),
    }
    .render()?;
    Ok(env.base(format!("You are already subscribed to {name}"), text))
}

async fn goodbye(env: &Env<'_>) -> R<Outgoing> {
    let (l, name, addr, to) = parts(env);
    let text = GoodbyeTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        subscribe_address: &l.command(&Command::Subscribe),
    }
    .render()?;
    Ok(env.base(format!("You have left {name}"), text))
}

/// Sent only while the member is still disabled: one who turned mail back
/// on (or left) meanwhile has nothing to be told.
fn disabled(env: &Env<'_>) -> R<Outgoing> {
    let (l, name, addr, to) = parts(env);
    let m = match &env.member {
        Some(m) if m.status == crate::store::MemberStatus::Disabled => m,
        Some(m) => return cancelled(format!("member {} is {} now", m.email, m.status)),
        None => return cancelled("the member no longer exists"),
    };
    let url = crate::notices::bounced::reactivate_url(env.ctx, l, m.id);
    let text = DisabledTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        reactivate_url: &url,
    }
    .render()?;
    Ok(env.base(format!("{name}: mail to you has stopped (bounces)"), text))
}

async fn help(env: &Env<'_>) -> R<Outgoing> {
    let (l, name, addr, _) = parts(env);
    let text = HelpTxt {
        list_name: name,
        list_address: &addr,
        subscribe_address: &l.command(&Command::Subscribe),
        unsubscribe_address: &l.command(&Command::Unsubscribe),
    }
    .render()?;
    Ok(env.base(format!("{name}: how it works"), text))
}

async fn not_member(env: &Env<'_>, subject: &str) -> R<Outgoing> {
    let (l, name, addr, to) = parts(env);
    let text = NotMemberTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        subject: &quoted_subject(subject),
        subscribe_address: &l.command(&Command::Subscribe),
    }
    .render()?;
    Ok(env.base(format!("Your message to {name} was not posted"), text))
}

async fn question_posted(env: &Env<'_>, question_id: i64) -> R<Outgoing> {
    let (l, name, addr, _) = parts(env);
    let m = env.active_member()?;
    let Some(q) = env.ctx.store.question(question_id).await? else {
        return cancelled("the question no longer exists");
    };
    let text = QuestionPostedTxt {
        list_name: name,
        list_address: &addr,
        subject: &quoted_subject(&q.subject),
        unsubscribe_url: &env.unsubscribe_url(m),
    }
    .render()?;
    let mut o = env.base(reply_subject(&q.subject), text);
    o.reply_to = Some(l.reply_address(&env.ctx.keys, q.id, m.id, env.row.created_at));
    o.in_reply_to = Some(q.message_id.clone());
    o.references = vec![q.message_id];
    o.list = Some(env.list_headers(m));
    Ok(o)
}

async fn answer_to_asker(env: &Env<'_>, answer_id: i64) -> R<Outgoing> {
    let (l, name, addr, _) = parts(env);
    let m = env.active_member()?;
    let (q, a) = question_and_answer(env, answer_id).await?;
    let author = crate::digest::display_name(&a.author_name, &a.author_email);
    let body = wrap(&a.body, 72, "");
    let text = AnswerToAskerTxt {
        list_name: name,
        list_address: &addr,
        author: &author,
        subject: &quoted_subject(&q.subject),
        body: &body,
        unsubscribe_url: &env.unsubscribe_url(m),
    }
    .render()?;
    let mut o = env.base(reply_subject(&q.subject), text);
    o.from_name = format!("{author} via {name}");
    o.reply_to = Some(l.reply_address(&env.ctx.keys, q.id, m.id, env.row.created_at));
    o.in_reply_to = Some(q.message_id.clone());
    o.references = vec![q.message_id];
    o.list = Some(env.list_headers(m));
    Ok(o)
}

async fn digest_ready(env: &Env<'_>, digest_id: i64, awaiting_approval: bool) -> R<Outgoing> {
    let (_, name, addr, _) = parts(env);
    let Some(d) = env.ctx.store.digest(digest_id).await? else {
        return cancelled("the digest no longer exists");
    };
    let issue = Issue::of(&d)?;
    let subject = crate::digest::send::subject_for(&env.list, &d);
    let summary = crate::digest::summary_line(&issue);
    let review_url = format!(
        "{}/admin/lists/{}/issue",
        env.ctx.config.base_url,
        env.list.posting()
    );
    let text = DigestReadyTxt {
        list_name: name,
        list_address: &addr,
        number: d.number,
        subject: &subject,
        summary: &summary,
        awaiting_approval,
        review_url: &review_url,
    }
    .render()?;
    Ok(env.base(format!("[{name}] Digest issue {} is ready", d.number), text))
}

async fn confirm_leave(env: &Env<'_>) -> R<Outgoing> {
    let (_, name, addr, to) = parts(env);
    let m = env.active_member()?;
    let text = ConfirmLeaveTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        unsubscribe_url: &env.unsubscribe_url(m),
    }
    .render()?;
    Ok(env.base(format!("Confirm that you want to leave {name}"), text))
}

async fn digest_reply(env: &Env<'_>, subject: &str) -> R<Outgoing> {
    let (_, name, addr, _) = parts(env);
    let text = DigestReplyTxt {
        list_name: name,
        list_address: &addr,
        subject: &quoted_subject(subject),
    }
    .render()?;
    Ok(env.base(
        format!("Your reply to the {name} digest was not posted"),
        text,
    ))
}

async fn confirm_expired(env: &Env<'_>) -> R<Outgoing> {
    let (l, name, addr, to) = parts(env);
    let text = ConfirmExpiredTxt {
        list_name: name,
        list_address: &addr,
        address: to,
        subscribe_address: &l.command(&Command::Subscribe),
    }
    .render()?;
    Ok(env.base(format!("Your subscription request to {name} expired"), text))
}

async fn reply_held(env: &Env<'_>, subject: &str, why: &str) -> R<Outgoing> {
    let (_, name, addr, _) = parts(env);
    let why = wrap(why, 72, "");
    let text = ReplyHeldTxt {
        list_name: name,
        list_address: &addr,
        subject: &quoted_subject(subject),
        why: &why,
    }
    .render()?;
    Ok(env.base(format!("Your reply to {name} was not posted"), text))
}

/// Answers to the asker's question, folded (see [`crate::notices::answers`]).
async fn answers_to_asker(
    env: &Env<'_>,
    question_id: i64,
    after: i64,
    through: i64,
) -> R<Outgoing> {
    let (l, name, addr, _) = parts(env);
    let m = env.active_member()?;
    let Some(q) = env.ctx.store.question(question_id).await? else {
        return cancelled("the question no longer exists");
    };
    let answers = env.ctx.store.answers_between(q.id, after, through).await?;
    let many = match &answers[..] {
        [] => return cancelled("the answers no longer exist"),
        [one] => return answer_to_asker(env, one.id).await,
        many => many,
    };
    let views = many
        .iter()
        .map(|a| AnswerView {
            author: crate::digest::display_name(&a.author_name, &a.author_email),
            new: true,
            body_text: wrap(&a.body, 72, "   "),
            body_html: Vec::new(),
        })
        .collect();
    let text = AnswersToAskerTxt {
        list_name: name,
        list_address: &addr,
        count: many.len(),
        subject: &quoted_subject(&q.subject),
        answers: views,
        unsubscribe_url: &env.unsubscribe_url(m),
    }
    .render()?;
    let mut o = env.base(reply_subject(&q.subject), text);
    o.reply_to = Some(l.reply_address(&env.ctx.keys, q.id, m.id, env.row.created_at));
    o.in_reply_to = Some(q.message_id.clone());
    o.references = vec![q.message_id];
    o.list = Some(env.list_headers(m));
    Ok(o)
}

/// A reply that came to an expired address: the member's fresh one.
async fn reply_expired(env: &Env<'_>, question_id: i64) -> R<Outgoing> {
    let (l, name, addr, _) = parts(env);
    let m = env.active_member()?;
    let Some(q) = env.ctx.store.question(question_id).await? else {
        return cancelled("the question no longer exists");
    };
    let fresh = l.reply_address(&env.ctx.keys, q.id, m.id, env.row.created_at);
    let text = ReplyExpiredTxt {
        list_name: name,
        list_address: &addr,
        subject: &quoted_subject(&q.subject),
        days: env.ctx.config.reply_token_max_age.as_secs() / 86_400,
        reply_address: &fresh,
    }
    .render()?;
    let mut o = env.base(reply_subject(&q.subject), text);
    o.reply_to = Some(fresh);
    o.in_reply_to = Some(q.message_id.clone());
    o.references = vec![q.message_id];
    Ok(o)
}

async fn sign_in(env: &Env<'_>, link_id: i64) -> R<Outgoing> {
    let Some(link) = env.ctx.store.sign_in_link(link_id).await? else {
        return cancelled("the sign-in link no longer exists");
    };
    if link.used_at.is_some() || link.expires_at <= crate::now_ms() {
        return cancelled("the sign-in link was used or expired before it was sent");
    }
    let url = crate::editors::link_url(env.ctx, link.id, link.nonce);
    let text = SignInTxt {
        url: &url,
        minutes: crate::editors::LINK_VALID_MS / 60_000,
        base_url: &env.ctx.config.base_url,
    }
    .render()?;
    Ok(env.base("Your gazette sign-in link".into(), text))
}

async fn digest_test(env: &Env<'_>, digest_id: i64, member_id: i64) -> R<Outgoing> {
    let Some(d) = env.ctx.store.digest(digest_id).await? else {
        return cancelled("the digest no longer exists");
    };
    let Some(m) = env.ctx.store.member(member_id).await? else {
        return cancelled("the member it was previewed for no longer exists");
    };
    let issue = Issue::of(&d)?;
    let subject = crate::digest::send::subject_for(&env.list, &d);
    let (text, html) = super::digest_bodies(env.ctx, &env.list, &m, &subject, &d.intro, &issue)?;
    let banner = format!(
        "TEST COPY of issue #{} as {} would receive it. Members have not been sent anything.",
        d.number, m.email
    );
    let mut o = env.base(format!("[TEST] {subject}"), format!("{banner}\n\n{text}"));
    o.html = Some(html.replacen(
        "<body style=\"margin:0;padding:0;background:#f4f4f2;\">",
        &format!(
            "<body style=\"margin:0;padding:0;background:#f4f4f2;\"><p style=\"margin:0;padding:12px;background:#7a1020;color:#ffffff;font-family:Helvetica,Arial,sans-serif;font-size:15px;\">{}</p>",
            crate::outbound::text::html_escape(&banner)
        ),
        1,
    ));
    Ok(o)
}

async fn held(env: &Env<'_>, inbound_id: i64) -> R<Outgoing> {
    let (l, name, addr, _) = parts(env);
    let Some(post) = crate::moderation::held_post(env.ctx, l, inbound_id).await? else {
        return cancelled("the post is no longer held");
    };
    let approve = l.command(&Command::Approve(
        env.ctx
            .keys
            .sign(crate::tokens::Purpose::Approve, &[inbound_id]),
    ));
    let reject = l.command(&Command::Reject(
        env.ctx
            .keys
            .sign(crate::tokens::Purpose::Reject, &[inbound_id]),
    ));
    let page = format!(
        "{}/admin/lists/{}/held",
        env.ctx.config.base_url,
        l.posting()
    );
    let excerpt = wrap(&crate::moderation::excerpt(&post.body, 1200), 72, "  | ");
    let text = HeldTxt {
        list_name: name,
        list_address: &addr,
        what: post.kind.noun(),
        from: &post.from,
        subject: &post.subject,
        reason: &wrap(&post.reason, 72, "  "),
        excerpt: &excerpt,
        approve: &approve,
        reject: &reject,
        page: &page,
    }
    .render()?;
    Ok(env.base(
        format!("[{name}] Held {}: {}", post.kind.noun(), post.subject),
        text,
    ))
}

/// The author of a held post hears the editors' decision: posted
/// (`note` is `None`) or not, with the editor's note if they wrote one.
fn moderated(env: &Env<'_>, what: &str, subject: &str, note: Option<&str>) -> R<Outgoing> {
    let (_, name, addr, _) = parts(env);
    let wrapped = note.map(|n| wrap(n.trim(), 72, "  ")).unwrap_or_default();
    let text = ModeratedTxt {
        list_name: name,
        list_address: &addr,
        what,
        subject,
        rejected: note.is_some(),
        note: &wrapped,
    }
    .render()?;
    let title = match note {
        Some(_) => format!("Your {what} to {name} was not posted"),
        None => format!("Your {what} to {name} is posted"),
    };
    Ok(env.base(title, text))
}
