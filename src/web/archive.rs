//! The public archive of a list, when it is on (`gazette list set ADDRESS
//! --archive public`): past issues and the questions they carried, newest
//! first; each question with its answers; and an Atom feed. Only what a
//! sent issue carried is shown, and authors by name, never by address.

use crate::app::{Ctx, List};
use crate::outbound::text::html_escape;
use crate::store::archive::{PublishedAnswer, PublishedQuestion};
use crate::store::DigestStatus;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// Questions on the archive's front page and in the feed.
const LATEST: i64 = 100;

struct QuestionView {
    id: i64,
    subject: String,
    author: String,
    when: String,
    answers: String,
}

struct AnswerView {
    author: String,
    when: String,
    paragraphs: Vec<String>,
}

#[derive(Template)]
#[template(path = "web/archive.html")]
struct IndexPage {
    name: String,
    address: String,
    /// (number, subject, date)
    issues: Vec<(i64, String, String)>,
    questions: Vec<QuestionView>,
}

#[derive(Template)]
#[template(path = "web/archive_question.html")]
struct QuestionPage {
    name: String,
    address: String,
    subject: String,
    author: String,
    when: String,
    paragraphs: Vec<String>,
    answers: Vec<AnswerView>,
}

/// The list, if its archive is public (otherwise 404, as for no list).
async fn public_list(ctx: &Ctx, address: &str) -> Result<List, Response> {
    match ctx
        .store
        .list_by_address(&address.to_ascii_lowercase())
        .await
    {
        Ok(Some(row)) if row.archive_public => Ok(ctx.list(row)),
        Ok(_) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "archive");
            Err((StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n").into_response())
        }
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Not found</title><main style=\"font-family:Georgia,serif;max-width:560px;margin:40px auto;padding:0 16px\"><h1>Not found</h1><p>There is no public archive here.</p></main></html>"),
    )
        .into_response()
}

/// A name for the public: the author's name, never their address.
fn public_name(name: &str) -> String {
    let n = name.trim();
    if n.is_empty() || n.contains('@') {
        "A member".into()
    } else {
        n.to_string()
    }
}

fn date(list: &List, ms: i64) -> String {
    use chrono::TimeZone;
    let tz = crate::digest::schedule::parse_timezone(&list.row.timezone).unwrap_or(chrono_tz::UTC);
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%-d %b %Y").to_string())
        .unwrap_or_default()
}

pub async fn index(State(ctx): State<Ctx>, Path(address): Path<String>) -> Response {
    let list = match public_list(&ctx, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let loaded = async {
        Ok::<_, crate::store::StoreError>((
            ctx.store.recent_digests(list.id(), 50).await?,
            ctx.store.published_questions(list.id(), LATEST).await?,
        ))
    };
    let (issues, questions) = match loaded.await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "archive");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n").into_response();
        }
    };
    let page = IndexPage {
        name: list.name().to_string(),
        address: list.posting(),
        issues: issues
            .into_iter()
            .filter(|d| d.status == DigestStatus::Sent)
            .map(|d| {
                (
                    d.number,
                    d.subject,
                    date(&list, d.sent_at.unwrap_or(d.created_at)),
                )
            })
            .collect(),
        questions: questions.iter().map(|q| view(&list, q)).collect(),
    };
    html(page.render())
}

fn view(list: &List, q: &PublishedQuestion) -> QuestionView {
    QuestionView {
        id: q.id,
        subject: q.subject.clone(),
        author: public_name(&q.author_name),
        when: date(list, q.created_at),
        answers: crate::digest::plural(q.answers as usize, "answer", "answers"),
    }
}

pub async fn question(
    State(ctx): State<Ctx>,
    Path((address, id)): Path<(String, String)>,
) -> Response {
    let list = match public_list(&ctx, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let loaded = async {
        let Some(q) = ctx.store.published_question(list.id(), id).await? else {
            return Ok(None);
        };
        let answers = ctx.store.published_answers(q.id).await?;
        Ok::<_, crate::store::StoreError>(Some((q, answers)))
    };
    let (q, answers) = match loaded.await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "archive");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n").into_response();
        }
    };
    let page = QuestionPage {
        name: list.name().to_string(),
        address: list.posting(),
        subject: q.subject.clone(),
        author: public_name(&q.author_name),
        when: date(&list, q.created_at),
        paragraphs: crate::outbound::render::html_paragraphs(&q.body),
        answers: answers.iter().map(|a| answer_view(&list, a)).collect(),
    };
    html(page.render())
}

fn answer_view(list: &List, a: &PublishedAnswer) -> AnswerView {
    AnswerView {
        author: public_name(&a.author_name),
        when: date(list, a.created_at),
        paragraphs: crate::outbound::render::html_paragraphs(&a.body),
    }
}

fn html(rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(h) => Html(h).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "archive template");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown\n",
            )
                .into_response()
        }
    }
}

/// An Atom feed (RFC 4287) of the latest published questions.
pub async fn feed(State(ctx): State<Ctx>, Path(address): Path<String>) -> Response {
    let list = match public_list(&ctx, &address).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let questions = match ctx.store.published_questions(list.id(), 50).await {
        Ok(q) => q,
        Err(e) => {
            tracing::error!(error = %e, "archive feed");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n").into_response();
        }
    };
    let self_url = format!("{}/feed.atom", crate::web::archive_url(&list));
    let updated = questions
        .first()
        .map_or(list.row.created_at, |q| q.created_at);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>{}</title>\n<id>{}</id>\n<link rel=\"self\" href=\"{}\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<updated>{}</updated>\n",
        html_escape(list.name()),
        html_escape(&crate::web::archive_url(&list)),
        html_escape(&self_url),
        html_escape(&crate::web::archive_url(&list)),
        rfc3339(updated)
    );
    for q in &questions {
        let url = crate::web::question_url(&list, q.id);
        xml.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>{}</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<updated>{}</updated>\n<author><name>{}</name></author>\n<content type=\"text\">{}</content>\n</entry>\n",
            html_escape(&q.subject),
            html_escape(&url),
            html_escape(&url),
            rfc3339(q.created_at),
            html_escape(&public_name(&q.author_name)),
            html_escape(&q.body)
        ));
    }
    xml.push_str("</feed>\n");
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
