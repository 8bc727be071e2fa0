//! The askama templates (under `templates/email/`) and the data they show.

use askama::Template;

#[derive(Template)]
#[template(path = "email/confirm.txt")]
pub struct ConfirmTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/welcome.txt")]
pub struct WelcomeTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    /// "Monday 7 December at 08:00 (UTC)", or a note when unscheduled.
    pub next_digest: &'a str,
    pub unsubscribe_url: &'a str,
    pub unsubscribe_address: &'a str,
}

#[derive(Template)]
#[template(path = "email/already.txt")]
pub struct AlreadyTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/goodbye.txt")]
pub struct GoodbyeTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub subscribe_address: &'a str,
}

#[derive(Template)]
#[template(path = "email/disabled.txt")]
pub struct DisabledTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub reactivate_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/help.txt")]
pub struct HelpTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub subscribe_address: &'a str,
    pub unsubscribe_address: &'a str,
}

#[derive(Template)]
#[template(path = "email/not_member.txt")]
pub struct NotMemberTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub subject: &'a str,
    pub subscribe_address: &'a str,
}

#[derive(Template)]
#[template(path = "email/question_posted.txt")]
pub struct QuestionPostedTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub subject: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/answer_to_asker.txt")]
pub struct AnswerToAskerTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub author: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/post.txt")]
pub struct PostTxt<'a> {
    pub list_name: &'a str,
    pub heading: &'a str,
    pub body: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/digest_ready.txt")]
pub struct DigestReadyTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub number: i64,
    pub subject: &'a str,
    /// "This issue: 2 new questions, 1 new answer".
    pub summary: &'a str,
    pub awaiting_approval: bool,
    /// The page in the editors' web UI.
    pub review_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm_leave.txt")]
pub struct ConfirmLeaveTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/digest_reply.txt")]
pub struct DigestReplyTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub subject: &'a str,
}

#[derive(Template)]
#[template(path = "email/confirm_expired.txt")]
pub struct ConfirmExpiredTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub address: &'a str,
    pub subscribe_address: &'a str,
}

#[derive(Template)]
#[template(path = "email/reply_held.txt")]
pub struct ReplyHeldTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub subject: &'a str,
    /// Wrapped at 72 columns.
    pub why: &'a str,
}

#[derive(Template)]
#[template(path = "email/answers_to_asker.txt")]
pub struct AnswersToAskerTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub count: usize,
    pub subject: &'a str,
    /// Each with its author and body wrapped at 72 columns.
    pub answers: Vec<AnswerView>,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/reply_expired.txt")]
pub struct ReplyExpiredTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub subject: &'a str,
    pub days: u64,
    pub reply_address: &'a str,
}

#[derive(Template)]
#[template(path = "email/sign_in.txt")]
pub struct SignInTxt<'a> {
    pub url: &'a str,
    pub minutes: i64,
    pub base_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/held.txt")]
pub struct HeldTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    /// "question" or "answer".
    pub what: &'a str,
    pub from: &'a str,
    pub subject: &'a str,
    pub reason: &'a str,
    pub excerpt: &'a str,
    pub approve: &'a str,
    pub reject: &'a str,
    pub page: &'a str,
}

#[derive(Template)]
#[template(path = "email/moderated.txt")]
pub struct ModeratedTxt<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub what: &'a str,
    pub subject: &'a str,
    pub rejected: bool,
    /// The editor's note, wrapped; may be empty.
    pub note: &'a str,
}

/// One answer as a reader sees it.
pub struct AnswerView {
    pub author: String,
    pub new: bool,
    pub body_text: String,
    /// Paragraphs as safe HTML (escaped, links made).
    pub body_html: Vec<String>,
}

/// One question as a given reader sees it, with that reader's reply address.
pub struct ItemView {
    pub number: usize,
    /// `N. subject`, wrapped for the text version.
    pub heading_text: String,
    /// Where and with which subject to reply, wrapped for the text version.
    pub reply_text: String,
    pub subject: String,
    pub author: String,
    pub body_text: String,
    /// Paragraphs as safe HTML (escaped, links made).
    pub body_html: Vec<String>,
    /// An editor's pick, with its note (may be empty).
    pub featured: bool,
    pub note: String,
    /// "Editor's pick: note", wrapped for the text version; empty if none.
    pub pick_text: String,
    /// The question's page in the public archive, when it is public.
    pub archive_url: Option<String>,
    pub answers: Vec<AnswerView>,
    pub reply_address: String,
    pub reply_subject: String,
    pub reply_mailto: String,
}

pub struct SectionView {
    pub title: &'static str,
    pub items: Vec<ItemView>,
}

#[derive(Template)]
#[template(path = "email/digest.txt")]
pub struct DigestTxt<'a> {
    pub subject: &'a str,
    pub summary: &'a str,
    pub intro: &'a str,
    pub sections: &'a [SectionView],
    /// Membership, posting and unsubscribe lines, wrapped.
    pub footer_text: &'a str,
}

#[derive(Template)]
#[template(path = "email/digest.html")]
pub struct DigestHtml<'a> {
    pub list_name: &'a str,
    pub list_address: &'a str,
    pub subject: &'a str,
    /// Hidden text mail clients show beside the subject.
    pub preheader: &'a str,
    pub summary: &'a str,
    /// The intro's Markdown, rendered and sanitised.
    pub intro_html: &'a str,
    pub sections: &'a [SectionView],
    pub unsubscribe_url: &'a str,
}
