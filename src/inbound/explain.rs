//! How gazette understands one message, as the JSON `gazette inspect` and
//! `gazette inbound show --explain` print: the class the classifier gives
//! it, the signals that decided, and what the pipeline would take from it
//! (the reply text it would post, or the recipients a report is about).
//! Everything goes through the functions the pipeline itself calls
//! ([`parse_message`], [`judge`], [`super::body::reply`]), and nothing here
//! reads a database or a list.

use super::classify::{judge, parse_message, Classification, DsnAction};
use serde::Serialize;

/// One message as gazette understands it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// `ordinary`, `auto_reply`, `bounce`, `delayed` (a report whose every
    /// recipient is only delayed) or `complaint`.
    pub class: &'static str,
    /// Ordinary mail: what would be posted as an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_text: Option<String>,
    /// Ordinary mail: what was cut (quotes, attributions, signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elided: Option<String>,
    /// Complaints: the report's Feedback-Type (`abuse`, `opt-out`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    /// Bounces and complaints: whom the report is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<Recipient>>,
    /// The signals that decided the class, in words.
    pub reasons: Vec<String>,
}

/// One recipient of a delivery or feedback report. A complaint names
/// only the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Recipient {
    Bounced {
        /// `None` when the report does not say which address failed.
        address: Option<String>,
        /// RFC 3463 enhanced status code, e.g. `5.1.1`.
        status: Option<String>,
        /// Retrying cannot help.
        permanent: bool,
        /// Why, in Sisimai's taxonomy (`userunknown`, `mailboxfull`, ...).
        reason: String,
        diagnostic: Option<String>,
    },
    Complaining {
        address: String,
    },
}

/// Explains raw message bytes. `envelope_from` is the SMTP MAIL FROM when
/// known; without it the Return-Path stands in, as in the pipeline.
pub fn explain(raw: &[u8], envelope_from: Option<&str>) -> Explanation {
    let Some(message) = parse_message(raw) else {
        return Explanation {
            class: "ordinary",
            reply_text: Some(String::new()),
            elided: Some(String::new()),
            feedback_type: None,
            recipients: None,
            reasons: vec![
                "not a message gazette can read (no header or MIME structure); the pipeline keeps it as rejected, kind unparseable"
                    .to_string(),
            ],
        };
    };
    let verdict = judge(&message, envelope_from);
    let mut out = Explanation {
        class: "ordinary",
        reply_text: None,
        elided: None,
        feedback_type: None,
        recipients: None,
        reasons: verdict.signals,
    };
    match verdict.class {
        Classification::Ordinary => {
            let trimmed = super::body::reply(&message);
            if trimmed.text.trim().is_empty() {
                out.reasons.push(
                    "no text of its own: as an answer it is held; as a new question it is posted whole"
                        .to_string(),
                );
            }
            out.reply_text = Some(trimmed.text);
            out.elided = Some(trimmed.elided);
        }
        Classification::AutoReply { .. } => out.class = "auto_reply",
        Classification::Complaint(c) => {
            out.class = "complaint";
            out.feedback_type = Some(c.feedback_type);
            out.recipients = Some(
                c.original_recipients
                    .into_iter()
                    .map(|address| Recipient::Complaining { address })
                    .collect(),
            );
        }
        Classification::Bounce(report) => {
            let delayed = report
                .recipients
                .iter()
                .all(|r| r.action == DsnAction::Delayed);
            out.class = if delayed { "delayed" } else { "bounce" };
            out.recipients = Some(
                report
                    .recipients
                    .into_iter()
                    .map(|r| Recipient::Bounced {
                        address: r.address,
                        status: r.status,
                        permanent: r.permanent,
                        reason: r.reason,
                        diagnostic: r.diagnostic,
                    })
                    .collect(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(raw: &str) -> serde_json::Value {
        serde_json::to_value(explain(raw.as_bytes(), None)).unwrap()
    }

    #[test]
    fn ordinary_reply_shows_what_would_be_posted() {
        let v = json(
            "From: ann@example.com\nTo: pm@lists.example.org\nSubject: Re: Q\n\n\
             Use a staged rollout.\n\nOn Mon, 2 Mar 2026 at 09:00, Bob <bob@example.com> wrote:\n> How do you ship?\n",
        );
        assert_eq!(v["class"], "ordinary");
        assert_eq!(v["reply_text"], "Use a staged rollout.");
        assert!(v["elided"].as_str().unwrap().contains("> How do you ship?"));
        assert!(v.get("recipients").is_none());
        assert!(!v["reasons"].as_array().unwrap().is_empty());
    }

    #[test]
    fn delay_warning_is_delayed_and_failure_is_bounce() {
        let report = |action: &str, status: &str| {
            format!(
                "From: MAILER-DAEMON@mx.example.net\nTo: pm+bounce-x@lists.example.org\nSubject: Delivery Status Notification\n\
                 MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
                 --b\nContent-Type: text/plain\n\nSee below.\n\n--b\nContent-Type: message/delivery-status\n\n\
                 Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; bob@example.net\nAction: {action}\nStatus: {status}\n\n--b--\n"
            )
        };
        let v = json(&report("delayed", "4.4.7"));
        assert_eq!(v["class"], "delayed");
        assert_eq!(v["recipients"][0]["permanent"], false);
        let v = json(&report("failed", "5.1.1"));
        assert_eq!(v["class"], "bounce");
        let r = &v["recipients"][0];
        assert_eq!(r["address"], "bob@example.net");
        assert_eq!(r["status"], "5.1.1");
        assert_eq!(r["permanent"], true);
        assert_eq!(r["reason"], "userunknown");
        assert!(v["reasons"][0]
            .as_str()
            .unwrap()
            .contains("delivery-status"));
    }

    #[test]
    fn unparseable_input_still_has_a_class_and_a_reason() {
        let v = serde_json::to_value(explain(b"", None)).unwrap();
        assert_eq!(v["class"], "ordinary");
        assert!(v["reasons"][0].as_str().unwrap().contains("unparseable"));
    }
}
