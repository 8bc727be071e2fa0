//! Assembling a bounce report: deciding that a message is one (an RFC 3464
//! report, or a prose note that reads like one), then building one entry
//! per failed recipient from the report's fields or the note's text, with
//! status, reply code, permanence and reason. The fields are trusted
//! first; the prose fills in what they leave vague.

use super::{dsn, mta_text, original, reason, status, text};
use super::{BounceReport, BouncedRecipient, DsnAction, Sender};
use mail_parser::{Message, PartType};

/// The bounce report `message` is, if it is one, with the signals that
/// made it one.
pub fn report(message: &Message<'_>, sender: Sender) -> Option<(BounceReport, Vec<String>)> {
    read(message, sender, true)
}

/// [`report`]; `unwrap` says whether a report attached whole may be read
/// in its place: one level only, so no nesting of attached reports, however
/// deep, makes the reading recurse.
fn read(
    message: &Message<'_>,
    sender: Sender,
    unwrap: bool,
) -> Option<(BounceReport, Vec<String>)> {
    let body = text::body_text(message);
    let records: Vec<dsn::Record> = dsn::texts(message)
        .iter()
        .flat_map(|t| dsn::parse(t))
        .collect();
    let failed_header = text::header(message, "X-Failed-Recipients");
    let has_records = records.iter().any(|r| r.recipient().is_some());
    let mut signals = structure(message, &records, failed_header.is_some());
    let reading = mta_text::Reading::new(&body);
    let from = || text::header(message, "From").unwrap_or_default();
    if signals.is_empty() {
        let from = from();
        let returns_original = message
            .parts
            .iter()
            .skip(1)
            .any(|p| p.message().is_some() || text::content_type(p).1.starts_with("rfc822"));
        let env = mta_text::Envelope {
            from: &from,
            subject: message.subject().unwrap_or(""),
            sender,
            returns_original,
        };
        signals = mta_text::looks_like_bounce(&env, &reading)?;
    }
    // Only a mail system passes a report on whole; a member may attach one
    // to a message that reads like a bounce of its own.
    let system = || sender == Sender::Null || mta_text::mail_system(&from()).is_some();
    if unwrap && !has_records && failed_header.is_none() && system() {
        if let Some((report, inner)) = wrapped(message, sender) {
            signals.push("a delivery report attached whole, as a gateway forwards one".into());
            signals.extend(inner);
            return Some((report, signals));
        }
    }
    let (note, tail) = reading.split();
    let original = original::find(message, tail);
    let recipients = if has_records {
        from_records(&records, note, &original.to)
    } else {
        let reporter = original::addresses(message.from());
        let mut exclude = reporter.clone();
        exclude.extend(original::addresses(message.to()));
        // The original's sender is not a failed recipient, unless it also
        // sent to itself (a test message).
        exclude.extend(
            original
                .from
                .iter()
                .filter(|a| !original.to.contains(a))
                .cloned(),
        );
        let reporter_domain = reporter
            .first()
            .and_then(|a| a.split_once('@'))
            .map(|(_, d)| d);
        from_note(
            &reading,
            message.subject().unwrap_or(""),
            failed_header.as_deref(),
            &exclude,
            &original.to,
            reporter_domain,
        )
    };
    let report = BounceReport {
        recipients,
        original_message_id: original.message_id,
        original_to: original.to,
        original_from: original.from,
    };
    Some((report, signals))
}

/// The report inside a notice that carries no fields of its own but
/// attaches an RFC 3464 report whole (a virus or spam gateway passing on
/// the DSN it received). Only asked of a message already judged a bounce
/// and written by a mail system: a member forwarding a bounce to ask
/// about it is not one.
fn wrapped(message: &Message<'_>, sender: Sender) -> Option<(BounceReport, Vec<String>)> {
    message.parts.iter().skip(1).find_map(|part| {
        let PartType::Message(inner) = &part.body else {
            return None;
        };
        let is_report = text::root_content_param(inner, "report-type")
            .is_some_and(|t| t.contains("delivery-status"));
        if !is_report {
            return None;
        }
        let (report, signals) = read(inner, sender, false)?;
        report
            .recipients
            .iter()
            .any(|r| r.address.is_some())
            .then_some((report, signals))
    })
}

/// The structural signals of a delivery report: RFC 3464 parts and
/// fields, or Exim's X-Failed-Recipients.
fn structure(message: &Message<'_>, records: &[dsn::Record], failed_header: bool) -> Vec<String> {
    let mut signals = Vec::new();
    if text::root_content_param(message, "report-type")
        .is_some_and(|t| t.contains("delivery-status"))
    {
        signals.push("multipart/report; report-type=delivery-status (RFC 3464)".to_string());
    }
    if text::has_part(
        message,
        "message",
        &["delivery-status", "global-delivery-status"],
    ) {
        signals.push("a message/delivery-status part".to_string());
    }
    let with_recipient = records.iter().filter(|r| r.recipient().is_some()).count();
    if with_recipient > 0 {
        signals.push(format!(
            "{with_recipient} per-recipient delivery-status record{}",
            if with_recipient == 1 { "" } else { "s" }
        ));
    }
    if failed_header {
        signals.push("X-Failed-Recipients header".to_string());
    }
    signals
}

/// Recipients from RFC 3464 fields, with the note's prose as a second
/// opinion when a diagnostic is missing or says nothing specific.
fn from_records(
    records: &[dsn::Record],
    note: &str,
    original_to: &[String],
) -> Vec<BouncedRecipient> {
    let blocks = mta_text::recipient_blocks(note, &[]);
    let mut out: Vec<BouncedRecipient> = Vec::new();
    for r in records.iter().filter(|r| r.recipient().is_some()) {
        let address = r
            .recipient()
            .and_then(|a| full_address(a, note, original_to));
        if out.iter().any(|o| o.address == address) {
            continue;
        }
        let action = match r.action.as_deref() {
            Some("failed" | "failure" | "expired") => DsnAction::Failed,
            Some("delayed") => DsnAction::Delayed,
            Some("delivered") => DsnAction::Delivered,
            Some("relayed") => DsnAction::Relayed,
            Some("expanded") => DsnAction::Expanded,
            _ => action_from_status(r.status.as_deref()),
        };
        let diagnostic = r.diagnostic.clone().unwrap_or_default();
        let block = blocks
            .iter()
            .find(|b| Some(&b.address) == address.as_ref())
            .map(|b| b.text.as_str());
        let fallback = block.or((records.len() == 1).then_some(note)).unwrap_or("");
        // Without a diagnostic, the recipient's own lines in the note
        // stand in for it ("a@b: 550 5.1.1 … User unknown").
        let said_about = if diagnostic.trim().is_empty() {
            block.unwrap_or("")
        } else {
            &diagnostic
        };
        let status = status::prefer(r.status.as_deref(), said_about);
        let said = Said {
            own: &diagnostic,
            fallback,
            kind: r.diagnostic_type.as_deref(),
        };
        out.push(recipient(address, action, status, said));
    }
    out
}

/// A recipient field's value as an address: as it is when it has a
/// domain; a bare local part ("Final-Recipient: LOCAL;jdoe") completed
/// from the address of that name in the note or the returned original.
fn full_address(value: &str, note: &str, original_to: &[String]) -> Option<String> {
    if value.contains('@') {
        return Some(value.to_string());
    }
    let same_local = |a: &String| a.split('@').next() == Some(value);
    text::find_addresses(note)
        .into_iter()
        .map(|f| f.address)
        .find(same_local)
        .or_else(|| original_to.iter().find(|a| same_local(a)).cloned())
}

/// Recipients of a prose bounce: X-Failed-Recipients when the MTA set it,
/// else the addresses the note names; one unnamed recipient if none.
fn from_note(
    reading: &mta_text::Reading<'_>,
    subject: &str,
    failed_header: Option<&str>,
    exclude: &[String],
    original_to: &[String],
    reporter_domain: Option<&str>,
) -> Vec<BouncedRecipient> {
    let note = reading.split().0;
    // The subject ("Returned mail: User unknown") is the last resort.
    let whole = format!("{note}\n{subject}");
    let action = if reading.says_delayed(subject) {
        DsnAction::Delayed
    } else {
        DsnAction::Failed
    };
    let mut blocks = mta_text::recipient_blocks(note, exclude);
    if blocks.is_empty() {
        blocks = mta_text::local_part_blocks(note, original_to);
    }
    if blocks.is_empty() && original_to.is_empty() {
        if let Some(domain) = reporter_domain {
            blocks = mta_text::listed_local_parts(note, domain);
        }
    }
    let listed: Vec<String> = failed_header
        .unwrap_or("")
        .split(',')
        .map(text::normalize_address)
        .filter(|a| text::is_address(a))
        .collect();
    let build = |address: Option<String>, own: &str, single: bool| {
        // The note, when it is the recipient's own text, was just read.
        let reread = single && !std::ptr::eq(own, note);
        let status = status::in_text(own).or_else(|| reread.then(|| status::in_text(note))?);
        recipient(
            address,
            action,
            status,
            Said {
                own,
                fallback: if single { &whole } else { subject },
                kind: None,
            },
        )
    };
    if !listed.is_empty() {
        let single = listed.len() == 1;
        return listed
            .iter()
            .map(|a| {
                let local = a.split('@').next().unwrap_or("");
                let own = blocks
                    .iter()
                    .find(|b| &b.address == a)
                    .map(|b| b.text.clone())
                    .or_else(|| local_block(note, local));
                build(
                    Some(a.clone()),
                    own.as_deref().unwrap_or(if single { note } else { "" }),
                    single,
                )
            })
            .collect();
    }
    if blocks.is_empty() {
        return vec![build(None, note, true)];
    }
    let single = blocks.len() == 1;
    blocks
        .iter()
        .map(|b| build(Some(b.address.clone()), &b.text, single))
        .collect()
}

/// The lines under a line naming only a local part (`  kijitora`), which
/// Exim writes when the domain was rewritten away.
fn local_block(note: &str, local: &str) -> Option<String> {
    let mut lines = note.lines().skip_while(|l| l.trim() != local);
    lines.next()?;
    let body: Vec<&str> = lines
        .take_while(|l| l.starts_with([' ', '\t']) || l.trim().is_empty())
        .collect();
    Some(body.join("\n"))
}

fn action_from_status(status: Option<&str>) -> DsnAction {
    match status.and_then(|s| s.chars().next()) {
        Some('2') => DsnAction::Delivered,
        Some('4') => DsnAction::Delayed,
        _ => DsnAction::Failed,
    }
}

/// Whether retrying cannot help: a 5.x.x status, else a 5xx reply, else
/// the wording. A 4.x.x that finally failed was a temporary condition
/// that outlasted the queue (DNS trouble, say): the address may be fine.
/// So is a failure whose only explanation is that retries ran out on a
/// temporary condition, which Exim words "retry timeout exceeded" or "all
/// hosts have been failing for a long time", under a notice that calls
/// every failure permanent.
fn is_permanent(
    action: DsnAction,
    status: Option<&str>,
    code: Option<u16>,
    own: &str,
    why: &str,
) -> bool {
    if matches!(
        action,
        DsnAction::Delivered | DsnAction::Relayed | DsnAction::Expanded
    ) {
        return false;
    }
    let retries_ran_out = || {
        let said = text::squeeze_lower(own);
        [
            "retry timeout exceeded",
            "have been failing for a long time",
        ]
        .iter()
        .any(|p| said.contains(p))
    };
    match (status.and_then(|s| s.chars().next()), code) {
        (Some(class), _) => class == '5',
        (None, Some(code)) => code >= 500,
        (None, None) => action == DsnAction::Failed && !(why == "expired" && retries_ran_out()),
    }
}

/// What a report says about one recipient: its own diagnostic, the wider
/// text around it, and the diagnostic's type.
pub struct Said<'a> {
    /// The recipient's own diagnostic.
    pub own: &'a str,
    /// The wider text: the whole note, or the subject.
    pub fallback: &'a str,
    /// The `Diagnostic-Code:` type, lowercased.
    pub kind: Option<&'a str>,
}

/// Assembles one recipient: reason from its own diagnostic first, then
/// from the wider text when the diagnostic says nothing specific.
pub fn recipient(
    address: Option<String>,
    action: DsnAction,
    status: Option<String>,
    said: Said<'_>,
) -> BouncedRecipient {
    let code = text::find_reply_code(said.own)
        .or_else(|| text::find_reply_code(text::truncate(said.fallback, 2000)));
    let own = reason::prepare(said.own);
    let evidence = |t| reason::Evidence {
        status: status.as_deref(),
        text: t,
        context: said.fallback,
        diagnostic_type: said.kind,
        code,
        action,
    };
    let mut why = reason::reason(&evidence(&own));
    // Only when its own words say nothing is the wider text read.
    if matches!(why, "onhold" | "undefined") || own.is_empty() {
        why = reason::reason(&evidence(&reason::prepare(said.fallback)));
    }
    let permanent = is_permanent(action, status.as_deref(), code, said.own, why);
    let shown = if said.own.trim().is_empty() {
        said.fallback
    } else {
        said.own
    };
    let shown = text::truncate(shown, 1200)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    BouncedRecipient {
        address,
        action,
        smtp_code: code,
        status,
        permanent,
        hard: permanent && reason::is_hard(why),
        reason: why.to_string(),
        diagnostic: Some(text::truncate(&shown, 1000).to_string()).filter(|d| !d.is_empty()),
    }
}
