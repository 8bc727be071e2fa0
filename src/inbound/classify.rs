//! Inbound classification: is a message a bounce (delivery status
//! notification), a complaint (abuse feedback report), an automatic reply,
//! or ordinary mail a person wrote? Gazette answers only ordinary mail, so
//! a wrong "ordinary" can start a mail loop while a wrong "auto-reply"
//! only leaves one message unanswered (it is still kept and visible): the
//! classifier leans towards the robots.
//!
//! Checks run from the most to the least structured: feedback reports,
//! then bounces (RFC 3464 reports, Amazon SES notifications, then the
//! prose notes of MTAs that send no report), then auto-reply signals.
//! Bounces come before auto-replies because DSNs carry
//! `Auto-Submitted: auto-replied` too.

mod arf;
mod autoreply;
mod bounce;
mod dsn;
mod mta_text;
mod note;
mod original;
mod parser;
mod reason;
mod ses;
mod status;
mod text;

use mail_parser::Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// A delivery status notification (RFC 3464 or an MTA's own non-standard format).
    Bounce(BounceReport),
    /// An abuse/feedback report (RFC 5965 ARF), i.e. a complaint.
    Complaint(Complaint),
    /// A vacation message or other automatic reply (RFC 3834 and common heuristics). `reason` says which signal fired.
    AutoReply {
        reason: String,
    },
    Ordinary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceReport {
    /// One entry per recipient the report is about; a bounce whose
    /// recipients could not be read has one entry with `address: None`.
    pub recipients: Vec<BouncedRecipient>,
    /// Message-ID of the returned original (without angle brackets), when it came back.
    pub original_message_id: Option<String>,
    /// To: addresses of the returned original, lowercased: the fallback when
    /// a broken MTA lost the VERP return path.
    pub original_to: Vec<String>,
    /// Senders of the returned original (From and Return-Path), lowercased:
    /// a VERP return path there names the delivery the report is about.
    pub original_from: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedRecipient {
    /// Final (or original) recipient, lowercased, without angle brackets or "rfc822;".
    pub address: Option<String>,
    pub action: DsnAction,
    /// Enhanced status code, e.g. "5.1.1".
    pub status: Option<String>,
    /// SMTP reply code, e.g. 550, from the diagnostic or the text.
    pub smtp_code: Option<u16>,
    /// The delivery will not succeed by retrying (5.x.x / 5xx / Failed).
    pub permanent: bool,
    /// The *address* is permanently bad (Sisimai's hard bounce: userunknown,
    /// hostunknown, hasmoved, notaccept).
    pub hard: bool,
    /// Best-effort Sisimai-like reason: userunknown, mailboxfull, expired,
    /// filtered, rejected, blocked, hostunknown, ... or "undefined".
    pub reason: String,
    pub diagnostic: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    /// Lowercased Feedback-Type: abuse, opt-out, auth-failure, fraud, virus, other.
    pub feedback_type: String,
    /// The first complaining recipient (Original-Rcpt-To, or the To: of the reported message).
    pub original_recipient: Option<String>,
    pub original_mail_from: Option<String>,
    /// Every complaining recipient, in report order.
    pub original_recipients: Vec<String>,
    /// Message-ID of the reported message (without angle brackets), when included.
    pub original_message_id: Option<String>,
    /// Every sender address the report names for the reported message
    /// (Original-Mail-From, its From and Return-Path), lowercased.
    pub original_senders: Vec<String>,
    /// A mail client's own unsubscribe request (sent to the
    /// List-Unsubscribe mailto), not a mailbox provider's report.
    pub client_request: bool,
}

/// A classification with the signals that decided it, in words, as
/// `gazette inspect` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub class: Classification,
    pub signals: Vec<String>,
}

/// Classifies a parsed message. `envelope_from` is the SMTP MAIL FROM when
/// known (`Some("")` for the null sender `<>`); with `None` the
/// Return-Path header, if any, stands in for it.
pub fn classify(message: &Message<'_>, envelope_from: Option<&str>) -> Classification {
    judge(message, envelope_from).class
}

/// [`classify`], saying why.
pub fn judge(message: &Message<'_>, envelope_from: Option<&str>) -> Verdict {
    let verdict = |class, signals| Verdict { class, signals };
    if message.parts.is_empty() {
        return verdict(
            Classification::Ordinary,
            vec!["the message is empty".into()],
        );
    }
    let sender = envelope_sender(message, envelope_from);
    let null_sender = sender == Sender::Null;
    if let Some((c, why)) = arf::complaint(message).or_else(|| arf::client_unsubscribe(message)) {
        return verdict(Classification::Complaint(c), vec![why]);
    }
    let ses = || vec!["Amazon SES notification".to_string()];
    match ses::event(message) {
        Some(ses::Event::Bounce(report)) => return verdict(Classification::Bounce(report), ses()),
        Some(ses::Event::Complaint(c)) => return verdict(Classification::Complaint(c), ses()),
        None => {}
    }
    if let Some((report, signals)) = bounce::report(message, sender) {
        return verdict(Classification::Bounce(report), signals);
    }
    match autoreply::detect(message, null_sender) {
        Some(reason) => verdict(
            Classification::AutoReply {
                reason: reason.clone(),
            },
            vec![reason],
        ),
        None => verdict(
            Classification::Ordinary,
            vec!["no delivery report, feedback report or automatic-reply signal".into()],
        ),
    }
}

/// Parses raw bytes as a message, whatever they hold. Strips a leading mbox
/// `From ` line, reads CR-only line endings, and turns mail-parser's
/// panics on some malformed multiparts ("Invalid part ID, could not find
/// multipart", seen in 0.11) into `None`, so no input can take a listener
/// or `gazette ingest` down. The message borrows `raw` (no copy), except
/// for CR-only input, which is rewritten first.
pub fn parse_message(raw: &[u8]) -> Option<Message<'_>> {
    let raw = strip_mbox_from_line(raw);
    // Old Macintosh line endings (CR only): mail-parser knows LF and CRLF.
    // (Looked for LF first: it ends the first line, where a missing CR in
    // an LF-only message is only known at the end.)
    if !raw.contains(&b'\n') && raw.contains(&b'\r') {
        let unix: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'\r' { b'\n' } else { b })
            .collect();
        return parse(&unix).map(Message::into_owned);
    }
    parse(raw)
}

fn parse(bytes: &[u8]) -> Option<Message<'_>> {
    std::panic::catch_unwind(|| parser::PARSER.parse(bytes))
        .ok()
        .flatten()
}

/// Convenience for callers holding raw bytes. Never panics on any input;
/// what cannot be parsed as a message at all is `Ordinary`.
pub fn classify_raw(raw: &[u8], envelope_from: Option<&str>) -> Classification {
    match parse_message(raw) {
        Some(message) => classify(&message, envelope_from),
        None => Classification::Ordinary,
    }
}

/// Message-ID (without angle brackets) of the original message a report
/// returns or quotes, if it can be found.
pub fn original_message_id(message: &Message<'_>) -> Option<String> {
    let body = text::body_text(message);
    original::find(message, note::split_original(&body).1).message_id
}

fn strip_mbox_from_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        if let Some(nl) = raw.iter().position(|&b| b == b'\n') {
            return &raw[nl + 1..];
        }
    }
    raw
}

/// Who the envelope (SMTP `MAIL FROM`, or the `Return-Path` it left)
/// says sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The null sender `<>` (or `MAILER-DAEMON`): what RFC 5321 asks of
    /// every non-delivery notice.
    Null,
    /// Someone, who could be answered.
    Someone,
    /// Not known: a file given to `gazette inspect` with no `Return-Path`.
    Unknown,
}

fn envelope_sender(message: &Message<'_>, envelope_from: Option<&str>) -> Sender {
    let sender = match envelope_from {
        Some(s) => s.to_string(),
        None => match text::header(message, "Return-Path") {
            Some(rp) => rp,
            None => return Sender::Unknown,
        },
    };
    let s = sender
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if s.is_empty() || s.eq_ignore_ascii_case("mailer-daemon") {
        Sender::Null
    } else {
        Sender::Someone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Classification {
        classify_raw(raw.as_bytes(), None)
    }

    fn auto_reason(raw: &str) -> String {
        match run(raw) {
            Classification::AutoReply { reason } => reason,
            other => panic!("expected an auto-reply, got {other:?}"),
        }
    }

    fn bounce(raw: &str) -> BounceReport {
        match run(raw) {
            Classification::Bounce(r) => r,
            other => panic!("expected a bounce, got {other:?}"),
        }
    }

    const MEMBER: &str = "From: Ann <ann@example.com>\nTo: pm@lists.example.org\nSubject: Re: Pricing for enterprise clients\n\
                          Message-ID: <1@example.com>\n";

    #[test]
    fn rfc3464_report_with_two_recipients() {
        let raw = "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: pm+bounce-abc@lists.example.org\n\
            Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could not be delivered.\n\n\
            --b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
            Final-Recipient: rfc822; <Bob@Example.NET>\nAction: failed\nStatus: 5.1.1\n\
            Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\n\n\
            Final-Recipient: rfc822; carol@example.net\nAction: delayed\nStatus: 4.2.2\n\
            Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\n\n\
            --b\nContent-Type: message/rfc822\n\nFrom: pm@lists.example.org\nTo: bob@example.net\n\
            Message-ID: <digest-7@lists.example.org>\nSubject: PM Circle digest\n\nHello\n--b--\n";
        let r = bounce(raw);
        assert_eq!(
            r.original_message_id.as_deref(),
            Some("digest-7@lists.example.org")
        );
        assert_eq!(r.original_to, ["bob@example.net"]);
        let [bob, carol] = &r.recipients[..] else {
            panic!("{r:?}")
        };
        assert_eq!(bob.address.as_deref(), Some("bob@example.net"));
        assert_eq!(
            (bob.action, bob.status.as_deref(), bob.smtp_code),
            (DsnAction::Failed, Some("5.1.1"), Some(550))
        );
        assert!(bob.permanent && bob.hard);
        assert_eq!(bob.reason, "userunknown");
        assert_eq!(
            (carol.action, carol.permanent, carol.hard),
            (DsnAction::Delayed, false, false)
        );
        assert_eq!(carol.reason, "mailboxfull");
    }

    #[test]
    fn qmail_prose_bounce() {
        let raw = "From: MAILER-DAEMON@mx.example.net\nTo: pm+bounce-abc@lists.example.org\nSubject: failure notice\n\n\
            Hi. This is the qmail-send program at mx.example.net.\n\
            I'm afraid I wasn't able to deliver your message to the following addresses.\n\
            This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
            <gone@example.net>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 No such user\n\n\
            --- Below this line is a copy of the message.\n\n\
            Return-Path: <pm+bounce-abc@lists.example.org>\nFrom: pm@lists.example.org\nTo: gone@example.net\n\
            Message-ID: <q-1@lists.example.org>\nSubject: hi\n\nbody\n";
        let r = bounce(raw);
        assert_eq!(r.recipients.len(), 1);
        let g = &r.recipients[0];
        assert_eq!(g.address.as_deref(), Some("gone@example.net"));
        assert_eq!(
            (g.status.as_deref(), g.smtp_code, g.reason.as_str(), g.hard),
            (Some("5.1.1"), Some(550), "userunknown", true)
        );
        assert_eq!(
            r.original_message_id.as_deref(),
            Some("q-1@lists.example.org")
        );
        assert_eq!(r.original_to, ["gone@example.net"]);
    }

    #[test]
    fn exim_bounce_uses_x_failed_recipients() {
        let raw = "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nTo: pm+bounce-abc@lists.example.org\n\
            X-Failed-Recipients: full@example.net\nAuto-Submitted: auto-replied\n\
            Subject: Mail delivery failed: returning message to sender\n\n\
            This message was created automatically by mail delivery software.\n\n\
            A message that you sent could not be delivered to one or more of its\nrecipients. The following address(es) failed:\n\n\
            \x20 full@example.net\n    host mx.example.net [192.0.2.2]: 552 5.2.2 Mailbox full\n";
        let r = bounce(raw);
        assert_eq!(r.recipients.len(), 1);
        assert_eq!(r.recipients[0].address.as_deref(), Some("full@example.net"));
        assert_eq!(
            (r.recipients[0].reason.as_str(), r.recipients[0].hard),
            ("mailboxfull", false)
        );
    }

    #[test]
    fn a_test_message_sent_to_oneself_names_its_sender_as_recipient() {
        let raw = "From: MAILER-DAEMON@mx.example.org\nTo: owner@lists.example.org\nSubject: Undelivered Mail Returned to Sender\n\
            MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.org.\n\n\
            <self@example.net>: Host not found\n\n\
            --b\nContent-Type: message/rfc822\n\nFrom: self@example.net\nTo: self@example.net\nSubject: test\n\nhello\n--b--\n";
        let r = bounce(raw);
        assert_eq!(r.recipients.len(), 1);
        assert_eq!(r.recipients[0].address.as_deref(), Some("self@example.net"));
    }

    #[test]
    fn a_report_a_gateway_attached_whole_is_read() {
        let inner = "From: postmaster@mx.example.net\nTo: owner@lists.example.org\nSubject: Delivery Status Notification (Failure)\n\
            MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"i\"\n\n\
            --i\nContent-Type: text/plain\n\nDelivery to the following recipients failed.\n\n       gone@example.net\n\n\
            --i\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;mx.example.net\n\n\
            Final-Recipient: rfc822;gone@example.net\nAction: failed\nStatus: 5.1.1\n\n--i--\n";
        let raw = format!(
            "From: postmaster@example.net\nTo: owner@lists.example.org\nSubject: Delivery Status Notification (Failure)\n\
             MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"o\"\n\n\
             This is a MIME-formatted message.\n\n--o\nContent-Type: message/rfc822\n\n{inner}\n--o--\n"
        );
        let r = bounce(&raw);
        assert_eq!(r.recipients.len(), 1);
        assert_eq!(r.recipients[0].address.as_deref(), Some("gone@example.net"));
        assert_eq!(r.recipients[0].status.as_deref(), Some("5.1.1"));
        // A member asking about a bounce they got is still a member.
        let asking = format!(
            "From: Ann <ann@example.com>\nTo: pm@lists.example.org\nSubject: Fwd: what does this mean?\n\
             MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"o\"\n\n\
             --o\nContent-Type: text/plain\n\nAnyone seen this before?\n\n--o\nContent-Type: message/rfc822\n\n{inner}\n--o--\n"
        );
        assert_eq!(run(&asking), Classification::Ordinary);
        // Reports attached inside reports, thousands deep, are read one
        // level down and no further.
        let mut nested = inner.to_string();
        for i in 0..3000 {
            nested = format!(
                "From: postmaster@example.net\nSubject: Delivery Status Notification (Failure)\n\
                 MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"n{i}\"\n\n\
                 --n{i}\nContent-Type: message/rfc822\n\n{nested}\n--n{i}--\n"
            );
        }
        let _ = classify_raw(nested.as_bytes(), None);
    }

    #[test]
    fn unreadable_bounce_still_is_a_bounce() {
        let raw = "From: postmaster@example.net\nTo: pm+bounce-abc@lists.example.org\nSubject: Undeliverable: digest\n\n\
            Your message could not be delivered.\n";
        let r = bounce(raw);
        assert_eq!(r.recipients.len(), 1);
        assert_eq!(
            (r.recipients[0].address.as_deref(), r.recipients[0].action),
            (None, DsnAction::Failed)
        );
    }

    #[test]
    fn arf_feedback_report_is_a_complaint() {
        let raw = "From: feedback@arf.example.net\nTo: abuse@lists.example.org\nSubject: FW: digest\nMIME-Version: 1.0\n\
            Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\nThis is an email abuse report.\n\
            --b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\n\
            Original-Mail-From: <pm+bounce-abc@lists.example.org>\nOriginal-Rcpt-To: <Dan@Example.NET>\n\n\
            --b\nContent-Type: message/rfc822\n\nFrom: pm@lists.example.org\nTo: dan@example.net\nMessage-ID: <d-1@lists.example.org>\n\
            Subject: digest\n\nhi\n--b--\n";
        let Classification::Complaint(c) = run(raw) else {
            panic!()
        };
        assert_eq!(c.feedback_type, "abuse");
        assert_eq!(c.original_recipient.as_deref(), Some("dan@example.net"));
        assert_eq!(
            c.original_mail_from.as_deref(),
            Some("pm+bounce-abc@lists.example.org")
        );
        assert_eq!(
            c.original_message_id.as_deref(),
            Some("d-1@lists.example.org")
        );
    }

    #[test]
    fn mail_client_unsubscribe_is_an_opt_out() {
        let raw = "From: eve@example.net\nTo: pm+unsubscribe@lists.example.org\nSubject: unsubscribe\nAuto-Submitted: auto-replied\n\n\
            Apple Mail sent this email to unsubscribe from the message.\n";
        let Classification::Complaint(c) = run(raw) else {
            panic!()
        };
        assert_eq!(
            (c.feedback_type.as_str(), c.original_recipient.as_deref()),
            ("opt-out", Some("eve@example.net"))
        );
    }

    #[test]
    fn amazon_ses_notification() {
        let raw = "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n\
            {\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\
            \"x@example.net\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]},\
            \"mail\":{\"commonHeaders\":{\"to\":[\"X <x@example.net>\"],\"messageId\":\"<m@lists.example.org>\"}}}\n--\nfooter\n";
        let r = bounce(raw);
        assert_eq!(r.recipients[0].address.as_deref(), Some("x@example.net"));
        assert!(r.recipients[0].hard);
        assert_eq!(r.original_to, ["x@example.net"]);
        assert_eq!(
            r.original_message_id.as_deref(),
            Some("m@lists.example.org")
        );
    }

    #[test]
    fn rfc3834_and_friends() {
        let body = "\nI am away until Monday.\n";
        assert_eq!(
            auto_reason(&format!("{MEMBER}Auto-Submitted: auto-replied\n{body}")),
            "Auto-Submitted: auto-replied"
        );
        assert!(auto_reason(&format!("{MEMBER}X-Autoreply: yes\n{body}")).contains("X-Autoreply"));
        assert!(auto_reason(&format!("{MEMBER}X-Autorespond: x\n{body}")).contains("X-Autorespond"));
        assert!(
            auto_reason(&format!("{MEMBER}X-Autogenerated: Reply\n{body}"))
                .contains("X-Autogenerated")
        );
        assert_eq!(
            auto_reason(&format!("{MEMBER}Precedence: bulk\n{body}")),
            "Precedence: bulk"
        );
        assert_eq!(
            auto_reason(&format!("{MEMBER}X-Precedence: auto_reply\n{body}")),
            "X-Precedence: auto_reply"
        );
        assert_eq!(
            auto_reason(&format!("{MEMBER}X-Mailer: vacation/1.2.7\n{body}")),
            "X-Mailer: vacation"
        );
        assert!(auto_reason(&format!(
            "{MEMBER}List-Id: <other.lists.example.com>\n{body}"
        ))
        .starts_with("mailing list"));
        assert!(auto_reason(&format!(
            "{MEMBER}List-Unsubscribe: <mailto:u@example.com>\n{body}"
        ))
        .starts_with("mailing list"));
        // Auto-Submitted: no is an explicit "a person wrote this".
        assert_eq!(
            run(&format!("{MEMBER}Auto-Submitted: no\n{body}")),
            Classification::Ordinary
        );
    }

    #[test]
    fn out_of_office_subjects_in_many_languages() {
        for subject in [
            "Out of Office: PM Circle digest",
            "Automatic reply: PM Circle digest",
            "Autosvar: PM Circle digest",
            "Abwesenheitsnotiz: PM Circle digest",
            "Réponse automatique : PM Circle digest",
            "Respuesta automática: PM Circle digest",
            "Risposta automatica: PM Circle digest",
            "Automatisch antwoord: PM Circle digest",
            "自動応答: PM Circle digest",
            "PM Circle digest (Auto-Reply)",
            "I am out of the office until 3 May",
        ] {
            let raw = format!(
                "From: a@example.com\nTo: pm@lists.example.org\nSubject: {subject}\n\nBack soon.\n"
            );
            assert!(auto_reason(&raw).contains("subject"), "{subject}");
        }
    }

    #[test]
    fn null_sender_is_never_answered() {
        let raw = format!("{MEMBER}\nhello\n");
        assert_eq!(
            classify_raw(raw.as_bytes(), Some("")),
            Classification::AutoReply {
                reason: "null envelope sender".into()
            }
        );
        assert_eq!(
            classify_raw(raw.as_bytes(), Some("<>")),
            Classification::AutoReply {
                reason: "null envelope sender".into()
            }
        );
        assert_eq!(
            classify_raw(raw.as_bytes(), Some("ann@example.com")),
            Classification::Ordinary
        );
        // Without an envelope, the Return-Path stands in for it.
        assert_eq!(
            auto_reason(&format!("Return-Path: <>\n{MEMBER}\nhello\n")),
            "null envelope sender"
        );
    }

    #[test]
    fn members_stay_ordinary() {
        let outlook = format!(
            "{MEMBER}X-Auto-Response-Suppress: All\nX-MS-Has-Attach:\n\nWhat do you charge?\n"
        );
        assert_eq!(run(&outlook), Classification::Ordinary);
        let quoting =
            format!("{MEMBER}\nThanks!\n\n> Out of office\n> Automatic reply: I am away\n");
        assert_eq!(run(&quoting), Classification::Ordinary);
        let policy = "From: a@example.com\nTo: pm@lists.example.org\nSubject: Re: out of office policy?\n\nDo you reply?\n";
        assert_eq!(run(policy), Classification::Ordinary);
        let topic = "From: a@example.com\nTo: pm@lists.example.org\nSubject: Out of office policy for contractors\n\nHow?\n";
        assert_eq!(run(topic), Classification::Ordinary);
        let bounces = "From: a@example.com\nTo: pm@lists.example.org\nSubject: Re: Delivery failure notices\n\n\
                       Our mail could not be delivered to two clients; the error said user unknown.\n";
        assert_eq!(run(bounces), Classification::Ordinary);
    }

    #[test]
    fn raw_input_edge_cases() {
        for raw in [
            &b""[..],
            b"\0\xff\xfe",
            b"From \n",
            b"Subject: x",
            b"Content-Type: multipart/report; boundary=x\n\n--x",
        ] {
            let _ = classify_raw(raw, None);
        }
        let mbox = format!("From MAILER-DAEMON Thu Apr 29 23:34:45 2010\n{MEMBER}\nhi\n");
        assert_eq!(run(&mbox), Classification::Ordinary);
        let mac = format!("{MEMBER}Precedence: junk\n\nhi\n").replace('\n', "\r");
        assert_eq!(
            run(&mac),
            Classification::AutoReply {
                reason: "Precedence: junk".into()
            }
        );
        assert_eq!(
            classify(&Message::default(), None),
            Classification::Ordinary
        );
    }
}
