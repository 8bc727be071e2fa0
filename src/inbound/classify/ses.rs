//! Amazon SES event notifications delivered by email through SNS: a JSON
//! document (possibly wrapped in the SNS envelope) instead of a DSN. An
//! operator who sends through SES and subscribes the list's bounce address
//! to the SNS topic gets bounces, complaints and deliveries this way.

use super::{BounceReport, BouncedRecipient, Complaint, DsnAction};
use mail_parser::Message;
use serde_json::Value;

/// What an SES notification reports.
pub enum Event {
    Bounce(BounceReport),
    Complaint(Complaint),
}

/// The SES event `message` carries, if it is an SNS notification whose
/// body starts with one. Only Amazon's senders count: the JSON is easy to
/// type, and a complaint unsubscribes someone.
pub fn event(message: &Message<'_>) -> Option<Event> {
    let from_amazon = super::original::addresses(message.from()).iter().any(|a| {
        a.ends_with(".amazonaws.com")
            || a.ends_with("@amazonses.com")
            || a.ends_with(".amazonses.com")
    });
    if !from_amazon && super::text::header(message, "X-Amz-Sns-Message-Id").is_none() {
        return None;
    }
    let body = super::text::body_text(message);
    let start = body.find('{')?;
    if !body[..start].trim().is_empty() || !body.contains("notificationType") {
        return None;
    }
    // Sendmail breaks lines over 990 octets with "!", a newline and a space.
    let json = body[start..].replace("!\r\n ", "").replace("!\n ", "");
    // The SNS footer follows the JSON, so read one value and stop.
    let value: Value = serde_json::Deserializer::from_str(&json)
        .into_iter()
        .next()?
        .ok()?;
    let value = match value.get("Message").and_then(Value::as_str) {
        Some(inner) => serde_json::from_str(inner).ok()?,
        None => value,
    };
    let mail = value.get("mail");
    let headers = mail.and_then(|m| m.get("commonHeaders"));
    let original_to = strings(headers.and_then(|h| h.get("to")));
    // `source` is the envelope sender SES used: our VERP address, if set.
    let original_from: Vec<String> = mail
        .and_then(|m| m.get("source"))
        .and_then(Value::as_str)
        .map(super::text::normalize_address)
        .into_iter()
        .chain(strings(headers.and_then(|h| h.get("from"))))
        .collect();
    let original_message_id = headers
        .and_then(|h| h.get("messageId"))
        .and_then(Value::as_str)
        .map(|s| s.trim_matches(['<', '>']).to_string());
    match value.get("notificationType")?.as_str()? {
        "Bounce" => {
            let bounce = value.get("bounce")?;
            let permanent = bounce.get("bounceType").and_then(Value::as_str) == Some("Permanent");
            let recipients = list(bounce.get("bouncedRecipients"))
                .iter()
                .map(|r| bounced(r, permanent))
                .collect();
            Some(Event::Bounce(BounceReport {
                recipients,
                original_message_id,
                original_to,
                original_from: original_from.clone(),
            }))
        }
        "Delivery" => {
            let delivery = value.get("delivery")?;
            let diagnostic = delivery
                .get("smtpResponse")
                .and_then(Value::as_str)
                .map(str::to_string);
            let recipients = strings(delivery.get("recipients"))
                .into_iter()
                .map(|a| {
                    let said = super::bounce::Said {
                        own: diagnostic.as_deref().unwrap_or(""),
                        fallback: "",
                        kind: None,
                    };
                    super::bounce::recipient(
                        Some(a),
                        DsnAction::Delivered,
                        diagnostic.as_deref().and_then(super::text::find_status),
                        said,
                    )
                })
                .collect();
            Some(Event::Bounce(BounceReport {
                recipients,
                original_message_id,
                original_to,
                original_from: original_from.clone(),
            }))
        }
        "Complaint" => {
            let complaint = value.get("complaint")?;
            let recipients: Vec<String> = list(complaint.get("complainedRecipients"))
                .iter()
                .filter_map(|r| r.get("emailAddress").and_then(Value::as_str))
                .map(super::text::normalize_address)
                .collect();
            let feedback_type = complaint
                .get("complaintFeedbackType")
                .and_then(Value::as_str)
                .unwrap_or("abuse")
                .to_ascii_lowercase();
            Some(Event::Complaint(Complaint {
                feedback_type,
                original_recipient: recipients.first().cloned(),
                original_mail_from: mail
                    .and_then(|m| m.get("source"))
                    .and_then(Value::as_str)
                    .map(super::text::normalize_address),
                original_recipients: recipients,
                original_message_id,
                original_senders: original_from,
                client_request: false,
            }))
        }
        _ => None,
    }
}

fn bounced(r: &Value, permanent: bool) -> BouncedRecipient {
    let get = |k: &str| r.get(k).and_then(Value::as_str);
    let diagnostic = get("diagnosticCode").unwrap_or("");
    // SES says "Transient" for soft bounces whatever the action field says.
    let action = match get("action") {
        Some("failed") if permanent => DsnAction::Failed,
        _ => DsnAction::Delayed,
    };
    let status = get("status")
        .map(str::to_string)
        .or_else(|| super::text::find_status(diagnostic));
    let said = super::bounce::Said {
        own: diagnostic,
        fallback: "",
        kind: None,
    };
    super::bounce::recipient(
        get("emailAddress").map(super::text::normalize_address),
        action,
        status,
        said,
    )
}

fn list(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The addresses in a JSON array of strings such as `"Name <a@b.example>"`.
fn strings(v: Option<&Value>) -> Vec<String> {
    list(v)
        .iter()
        .filter_map(Value::as_str)
        .flat_map(super::text::find_addresses)
        .map(|f| f.address)
        .collect()
}
