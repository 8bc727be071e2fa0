//! Abuse feedback reports (RFC 5965 ARF): a mailbox provider telling us a
//! recipient pressed "this is spam". Gazette treats them as complaints and
//! unsubscribes the recipient. Mail clients' own one-click unsubscribe
//! messages (Apple Mail sends an automatic "unsubscribe" to the
//! List-Unsubscribe mailto) are opt-out reports of the same kind: they are
//! automatic, yet must not be ignored as auto-replies. Outlook.com's
//! junk-mail reports (JMRP) are not ARF but carry the reported message with
//! an `X-HmXmrOriginalRecipient:` header; they count too.

use super::original;
use super::text::{
    content_type, has_part, header, normalize_address, part_text, root_content_param,
};
use super::Complaint;
use mail_parser::Message;

/// The complaint `message` carries, if it is a feedback report, with the
/// signal that says so.
pub fn complaint(message: &Message<'_>) -> Option<(Complaint, String)> {
    let is_report =
        root_content_param(message, "report-type").is_some_and(|t| t == "feedback-report");
    if !is_report && !has_part(message, "message", &["feedback-report"]) {
        return jmrp(message).map(|c| {
            let why =
                "Outlook.com junk-mail report (X-HmXmrOriginalRecipient in the reported message)";
            (c, why.to_string())
        });
    }
    let fields = message
        .parts
        .iter()
        .find(|p| content_type(p) == ("message".into(), "feedback-report".into()))
        .and_then(part_text)
        .unwrap_or_default();
    let mut feedback_type = None;
    let mut recipients: Vec<String> = Vec::new();
    let mut mail_from = None;
    for line in fields.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "feedback-type" => feedback_type = Some(value.to_ascii_lowercase()),
            "original-rcpt-to" | "removal-recipient" => {
                push_unique(&mut recipients, normalize_address(value))
            }
            "original-mail-from" => {
                mail_from = Some(normalize_address(value)).filter(|a| !a.is_empty())
            }
            _ => {}
        }
    }
    let original = original::find(message, "");
    if recipients.is_empty() {
        recipients = original.to.clone();
    }
    let mut senders: Vec<String> = mail_from.iter().cloned().collect();
    for a in &original.from {
        push_unique(&mut senders, a.clone());
    }
    let feedback_type = feedback_type.unwrap_or_else(|| "abuse".to_string());
    let why = format!("feedback report (RFC 5965), Feedback-Type: {feedback_type}");
    let complaint = Complaint {
        feedback_type,
        original_recipient: recipients.first().cloned(),
        original_mail_from: mail_from.or_else(|| original.from.first().cloned()),
        original_recipients: recipients,
        original_message_id: original.message_id,
        original_senders: senders,
        client_request: false,
    };
    Some((complaint, why))
}

fn push_unique(list: &mut Vec<String>, address: String) {
    if !address.is_empty() && !list.contains(&address) {
        list.push(address);
    }
}

/// Outlook.com's junk-mail report: the reported message, attached, names
/// the complaining recipient in `X-HmXmrOriginalRecipient:`.
fn jmrp(message: &Message<'_>) -> Option<Complaint> {
    let reported = message.parts.iter().find_map(|p| p.message())?;
    let recipient = normalize_address(&header(reported, "X-HmXmrOriginalRecipient")?);
    let original = original::find(message, "");
    Some(Complaint {
        feedback_type: "abuse".to_string(),
        original_recipient: Some(recipient.clone()),
        original_mail_from: original.from.first().cloned(),
        original_recipients: vec![recipient],
        original_message_id: original.message_id,
        original_senders: original.from,
        client_request: false,
    })
}

/// An automatic unsubscribe request sent by the recipient's mail client,
/// with the signal that says so.
pub fn client_unsubscribe(message: &Message<'_>) -> Option<(Complaint, String)> {
    let automatic =
        header(message, "Auto-Submitted").is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
    if !automatic
        || !message
            .subject()?
            .trim()
            .eq_ignore_ascii_case("unsubscribe")
    {
        return None;
    }
    let from = original::addresses(message.from()).into_iter().next()?;
    let complaint = Complaint {
        feedback_type: "opt-out".to_string(),
        original_recipient: Some(from.clone()),
        original_mail_from: None,
        original_recipients: vec![from],
        original_message_id: None,
        original_senders: Vec::new(),
        client_request: true,
    };
    let why = "a mail client's automatic unsubscribe (Auto-Submitted, Subject: unsubscribe)";
    Some((complaint, why.to_string()))
}
