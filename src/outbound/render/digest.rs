//! The digest as each member receives it.
//!
//! An issue goes to every member with the same content; only a few small
//! parts are the member's own: a reply address per question (in the text
//! version's "To answer, reply to" lines and the HTML version's "Answer"
//! buttons) and the unsubscribe link. Rendering the whole templates again
//! for every member cost most of the send path's CPU, so the issue is
//! rendered once ([`DigestParts::prepare`]) with markers where those parts
//! go, split at the markers, and each member's copy is the pieces joined
//! with that member's parts ([`DigestParts::for_member`]). A test checks the
//! result is byte for byte what rendering the templates for that member
//! ([`digest_bodies`]) gives.
//!
//! The transfer encoding (quoted-printable) is done once per issue too:
//! it works line by line, so the lines without a member's part are encoded
//! once, and only the few lines with one are encoded per member
//! ([`DigestParts::encoded_for_member`], tested equal to encoding the whole
//! per-member render).

use super::{cancelled, Env, R};
use crate::app::{Ctx, List};
use crate::digest::{Issue, Section};
use crate::outbound::compose::{quoted_printable, EncodedBodies, Outgoing};
use crate::outbound::text::{mailto_encode, reply_subject, wrap};
use crate::outbound::views::*;
use crate::store::digests::DigestRow;
use crate::store::lists::ListRow;
use crate::store::members::MemberRow;
use crate::store::DeliveryMode;
use askama::Template;
use std::sync::Arc;

pub(super) async fn digest(env: &Env<'_>) -> R<Outgoing> {
    let m = env.active_member()?;
    if m.mode != DeliveryMode::Digest {
        return cancelled(format!("member {} switched to {} mode", m.email, m.mode));
    }
    let cache = &env.ctx.render_cache;
    let id = env.row.ref_id.unwrap_or(0);
    let Some(frozen) = cache.issue(&env.ctx.store, id).await? else {
        return cancelled("the digest no longer exists");
    };
    let parts = match cache.digest_parts(id) {
        Some(p) if p.fits(&frozen, &env.list.row) => p,
        _ => {
            let p = Arc::new(DigestParts::prepare(env.ctx, &env.list, frozen.clone())?);
            cache.keep_digest_parts(id, p.clone());
            p
        }
    };
    let encoded = parts.encoded_for_member(env.ctx, &env.list, m.id, env.row.created_at);
    let mut o = env.base(frozen.0.subject.clone(), String::new());
    o.encoded = Some(encoded);
    o.list = Some(env.list_headers(m));
    o.bulk = true;
    Ok(o)
}

/// The text and HTML bodies of an issue as member `m` receives it; also
/// what `gazette digest preview` and the editors' preview show.
pub fn digest_bodies(
    ctx: &Ctx,
    list: &List,
    m: &MemberRow,
    subject: &str,
    intro: &str,
    issue: &Issue,
) -> R<(String, String)> {
    digest_bodies_issued(ctx, list, m.id, (subject, intro), issue, crate::now_ms())
}

/// A member's own parts of one question: the reply address, and the
/// text and HTML forms it takes.
struct MemberReply {
    address: String,
    text: String,
    mailto: String,
}

fn member_reply(
    ctx: &Ctx,
    list: &List,
    member_id: i64,
    item: &crate::digest::Item,
    issued_ms: i64,
) -> MemberReply {
    let address = list.reply_address(&ctx.keys, item.question_id, member_id, issued_ms);
    let subject = reply_subject(&item.subject);
    MemberReply {
        text: format!(
            "{}\n{}",
            wrap(&format!("To answer, reply to: {address}"), 72, "   "),
            wrap(&format!("(subject \"{subject}\")"), 72, "   ")
        ),
        mailto: format!("mailto:{address}?subject={}", mailto_encode(&subject)),
        address,
    }
}

fn footer_text(list: &List, unsubscribe_url: &str) -> String {
    let posting = list.posting();
    [
        format!(
            "You receive this digest as a member of {} <{posting}>.",
            list.name()
        ),
        format!("Ask a question: write to {posting}"),
        format!("Unsubscribe, pause, or get every post: {unsubscribe_url}"),
    ]
    .map(|line| wrap(&line, 72, ""))
    .join("\n")
}

/// Renders the templates with `replies` and `unsubscribe_url` standing for
/// the member's parts (`footer_text` for the text version's footer).
fn render_bodies(
    list: &List,
    (subject, intro): (&str, &str),
    issue: &Issue,
    mut replies: impl FnMut(&crate::digest::Item) -> MemberReply,
    unsubscribe_url: &str,
    footer_text: &str,
) -> R<(String, String)> {
    let mut sections: Vec<SectionView> = Vec::new();
    for (n, item) in issue.items.iter().enumerate() {
        let view = item_view(list, n, item, replies(item));
        match sections.last_mut() {
            Some(s) if s.title == item.section.title() => s.items.push(view),
            _ => sections.push(SectionView {
                title: item.section.title(),
                items: vec![view],
            }),
        }
    }
    let posting = list.posting();
    let intro_text = wrap(intro, 72, "");
    let summary = crate::digest::summary_line(issue);
    let text = DigestTxt {
        subject,
        summary: &summary,
        intro: &intro_text,
        sections: &sections,
        footer_text,
    }
    .render()?;
    // Mail clients ignore style sheets: links get the list's colour inline.
    let intro_html =
        crate::markdown::to_html(intro).replace("<a href=", "<a style=\"color:#7a4d00;\" href=");
    let preheader = preheader(issue, &summary);
    let html = DigestHtml {
        list_name: list.name(),
        list_address: &posting,
        subject,
        preheader: &preheader,
        summary: &summary,
        intro_html: &intro_html,
        sections: &sections,
        unsubscribe_url,
    }
    .render()?;
    Ok((text, html))
}

/// [`digest_bodies`] with reply addresses made at `issued_ms` (the
/// delivery's creation, so that a retry renders the same message): the
/// templates rendered for this one member, which is what
/// [`DigestParts::for_member`] must equal.
pub fn digest_bodies_issued(
    ctx: &Ctx,
    list: &List,
    member_id: i64,
    texts: (&str, &str),
    issue: &Issue,
    issued_ms: i64,
) -> R<(String, String)> {
    let unsubscribe_url = list.unsubscribe_url(&ctx.keys, member_id);
    render_bodies(
        list,
        texts,
        issue,
        |item| member_reply(ctx, list, member_id, item, issued_ms),
        &unsubscribe_url,
        &footer_text(list, &unsubscribe_url),
    )
}

/// One issue rendered once, split where each member's own parts go.
pub struct DigestParts {
    issue: Arc<(DigestRow, Issue)>,
    list: ListRow,
    text: Vec<Piece>,
    html: Vec<Piece>,
    /// Bytes of the pieces' literal text, to size each member's copy.
    text_len: usize,
    html_len: usize,
    text_encoded: Vec<Chunk>,
    html_encoded: Vec<Chunk>,
}

/// A stretch of a body, cut after a line end: lines the same for every
/// member, encoded once, or lines with a member's part, as pieces.
enum Chunk {
    Encoded(Vec<u8>),
    Lines(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    /// Question n's "To answer, reply to" lines.
    ReplyText(usize),
    /// Question n's `mailto:` link, HTML-escaped.
    ReplyMailto(usize),
    FooterText,
    /// The unsubscribe link, HTML-escaped.
    Unsubscribe,
}

/// The marker's ends: private-use characters, with a random number in
/// between, so nothing a member wrote can pass for one.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// A value escaped exactly as the HTML template escapes it.
#[derive(Template)]
#[template(source = "{{ v }}", ext = "html")]
struct Escaped<'a> {
    v: &'a str,
}

impl DigestParts {
    pub fn prepare(ctx: &Ctx, list: &List, frozen: Arc<(DigestRow, Issue)>) -> R<DigestParts> {
        let _ = ctx;
        let nonce = format!("{:016x}", rand::random::<u64>());
        let mark = |kind: char, n: usize| format!("{OPEN}{nonce}{kind}{n}{CLOSE}");
        let (d, issue) = &*frozen;
        let mut n = 0;
        let (text, html) = render_bodies(
            list,
            (&d.subject, &d.intro),
            issue,
            |_| {
                n += 1;
                MemberReply {
                    address: String::new(),
                    text: mark('T', n - 1),
                    mailto: mark('M', n - 1),
                }
            },
            &mark('U', 0),
            &mark('F', 0),
        )?;
        let text = split(&text, &nonce)?;
        let html = split(&html, &nonce)?;
        let len = |p: &[Piece]| {
            p.iter()
                .map(|p| match p {
                    Piece::Literal(s) => s.len(),
                    _ => 0,
                })
                .sum()
        };
        Ok(DigestParts {
            text_len: len(&text),
            html_len: len(&html),
            text_encoded: chunks(&text),
            html_encoded: chunks(&html),
            text,
            html,
            list: list.row.clone(),
            issue: frozen,
        })
    }

    /// Whether these parts were made from this issue and these list settings.
    fn fits(&self, frozen: &Arc<(DigestRow, Issue)>, list: &ListRow) -> bool {
        Arc::ptr_eq(&self.issue, frozen) && self.list == *list
    }

    /// The text and HTML bodies for one member.
    pub fn for_member(
        &self,
        ctx: &Ctx,
        list: &List,
        member_id: i64,
        issued_ms: i64,
    ) -> (String, String) {
        let own = self.own_parts(ctx, list, member_id, issued_ms);
        (
            own.join(&self.text, self.text_len),
            own.join(&self.html, self.html_len),
        )
    }

    /// [`Self::for_member`], quoted-printable encoded.
    pub fn encoded_for_member(
        &self,
        ctx: &Ctx,
        list: &List,
        member_id: i64,
        issued_ms: i64,
    ) -> EncodedBodies {
        let own = self.own_parts(ctx, list, member_id, issued_ms);
        let encode = |chunks: &[Chunk], len: usize| {
            let mut out = Vec::with_capacity(len + len / 16 + 2048);
            for c in chunks {
                match c {
                    Chunk::Encoded(bytes) => out.extend_from_slice(bytes),
                    Chunk::Lines(pieces) => {
                        out.extend_from_slice(&quoted_printable(own.join(pieces, 256)))
                    }
                }
            }
            out
        };
        EncodedBodies {
            text: encode(&self.text_encoded, self.text_len),
            html: encode(&self.html_encoded, self.html_len),
        }
    }

    fn own_parts(&self, ctx: &Ctx, list: &List, member_id: i64, issued_ms: i64) -> OwnParts {
        let issue = &self.issue.1;
        let replies: Vec<MemberReply> = issue
            .items
            .iter()
            .map(|item| member_reply(ctx, list, member_id, item, issued_ms))
            .collect();
        let unsubscribe_url = list.unsubscribe_url(&ctx.keys, member_id);
        let escape = |v: &str| {
            Escaped { v }
                .render()
                .expect("escaping a string cannot fail")
        };
        OwnParts {
            footer: footer_text(list, &unsubscribe_url),
            unsubscribe_html: escape(&unsubscribe_url),
            mailto_html: replies.iter().map(|r| escape(&r.mailto)).collect(),
            replies,
        }
    }
}

/// One member's parts, in the forms the bodies take them.
struct OwnParts {
    replies: Vec<MemberReply>,
    mailto_html: Vec<String>,
    footer: String,
    unsubscribe_html: String,
}

impl OwnParts {
    fn join(&self, pieces: &[Piece], len: usize) -> String {
        let mut out = String::with_capacity(len + 1024);
        for p in pieces {
            out.push_str(match p {
                Piece::Literal(s) => s,
                Piece::ReplyText(n) => &self.replies[*n].text,
                Piece::ReplyMailto(n) => &self.mailto_html[*n],
                Piece::FooterText => &self.footer,
                Piece::Unsubscribe => &self.unsubscribe_html,
            });
        }
        out
    }
}

/// Cuts pieces after line ends into chunks: runs of lines without a
/// member's part (encoded now) and lines with one.
fn chunks(pieces: &[Piece]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut same = String::new();
    let mut line: Vec<Piece> = Vec::new();
    let mut own = false;
    let flush = |same: &mut String, out: &mut Vec<Chunk>| {
        if !same.is_empty() {
            out.push(Chunk::Encoded(quoted_printable(std::mem::take(same))));
        }
    };
    for p in pieces {
        let Piece::Literal(text) = p else {
            if !own {
                flush(&mut same, &mut out);
                own = true;
            }
            line.push(p.clone());
            continue;
        };
        let mut rest = text.as_str();
        while let Some(nl) = rest.find('\n') {
            let (head, tail) = rest.split_at(nl + 1);
            if own {
                line.push(Piece::Literal(head.to_string()));
                out.push(Chunk::Lines(std::mem::take(&mut line)));
                own = false;
            } else {
                for l in line.drain(..) {
                    if let Piece::Literal(t) = l {
                        same.push_str(&t);
                    }
                }
                same.push_str(head);
            }
            rest = tail;
        }
        if !rest.is_empty() {
            line.push(Piece::Literal(rest.to_string()));
        }
    }
    if own {
        out.push(Chunk::Lines(line));
    } else {
        for l in line {
            if let Piece::Literal(t) = l {
                same.push_str(&t);
            }
        }
    }
    flush(&mut same, &mut out);
    out
}

/// Splits rendered text at its markers.
fn split(rendered: &str, nonce: &str) -> R<Vec<Piece>> {
    let open = format!("{OPEN}{nonce}");
    let mut pieces = Vec::new();
    let mut rest = rendered;
    while let Some(at) = rest.find(&open) {
        if at > 0 {
            pieces.push(Piece::Literal(rest[..at].to_string()));
        }
        let after = &rest[at + open.len()..];
        let end = after
            .find(CLOSE)
            .ok_or_else(|| anyhow::anyhow!("digest template marker not closed"))?;
        let (kind, n) = after[..end].split_at(1);
        let n: usize = n
            .parse()
            .map_err(|_| anyhow::anyhow!("bad digest template marker {kind}{n}"))?;
        pieces.push(match kind {
            "T" => Piece::ReplyText(n),
            "M" => Piece::ReplyMailto(n),
            "F" => Piece::FooterText,
            "U" => Piece::Unsubscribe,
            _ => return Err(anyhow::anyhow!("unknown digest template marker {kind}").into()),
        });
        rest = &after[end + CLOSE.len_utf8()..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_string()));
    }
    Ok(pieces)
}

/// The hidden line mail clients show beside the subject: what is in
/// the issue, not the list's name again.
fn preheader(issue: &Issue, summary: &str) -> String {
    let subjects: Vec<&str> = issue
        .items
        .iter()
        .take(3)
        .map(|i| i.subject.as_str())
        .collect();
    let text = format!(
        "{}. {}",
        summary.trim_start_matches("This issue: "),
        subjects.join(" · ")
    );
    crate::moderation::excerpt(&text, 140)
}

/// One question as a reader sees it, with their `reply` parts.
fn item_view(list: &List, n: usize, item: &crate::digest::Item, reply: MemberReply) -> ItemView {
    let reply_subject = reply_subject(&item.subject);
    let pick_text = item.featured.then(|| {
        let line = if item.note.trim().is_empty() {
            "Editor's pick".to_string()
        } else {
            format!("Editor's pick: {}", item.note.trim())
        };
        wrap(&line, 72, "   ")
    });
    ItemView {
        number: n + 1,
        heading_text: wrap(&format!("{}. {}", n + 1, item.subject), 72, ""),
        reply_text: reply.text,
        subject: item.subject.clone(),
        author: item.author.clone(),
        body_text: wrap(&item.body, 72, "   "),
        body_html: super::html_paragraphs(&item.body),
        featured: item.featured,
        note: item.note.trim().to_string(),
        pick_text: pick_text.unwrap_or_default(),
        archive_url: list
            .row
            .archive_public
            .then(|| crate::web::question_url(list, item.question_id)),
        answers: item
            .answers
            .iter()
            .map(|a| AnswerView {
                author: a.author.clone(),
                new: a.new && item.section != Section::New,
                body_text: wrap(&a.body, 72, "   | "),
                body_html: super::html_paragraphs(&a.body),
            })
            .collect(),
        reply_mailto: reply.mailto,
        reply_address: reply.address,
        reply_subject,
    }
}
