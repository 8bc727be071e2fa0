//! Delivery failure notices in the formats MTAs and providers have written
//! over two decades, rebuilt from their documented wording in
//! `tests/it/bounce_formats/*.eml`: free-form Sendmail, qmail and vpopmail,
//! Postfix before DSNs, Exim failures and delay warnings, GroupWise, old
//! AOL with screen names, Yahoo, Exchange 5.5/2003/2007 and Office 365,
//! Gmail, Domino, Netscape, CompuServe, webmail providers; and DSNs with a
//! local Final-Recipient, none at all, or mixed permanence; and members'
//! own mail about failed mail, which is not a bounce. Each must be read
//! as the right class, with exactly the failed addresses and each one's
//! permanence.

use gazette::inbound::explain::{explain, Recipient};

/// The failed addresses a notice names, each with its permanence.
type Failed = &'static [(&'static str, bool)];

/// `(file, class, failed)`.
const CASES: &[(&str, &str, Failed)] = &[
    ("aol_old", "bounce", &[("jdoe@aol.com", true)]),
    (
        "aol_screen",
        "bounce",
        &[("jdoe@aol.com", true), ("jsmith@aol.com", true)],
    ),
    ("compuserve", "bounce", &[("jdoe@compuserve.com", true)]),
    ("domino", "bounce", &[("jdoe@example.com", true)]),
    ("dsn_localfinal", "bounce", &[("jdoe@example.net", true)]),
    (
        "dsn_mixed",
        "bounce",
        &[
            ("a@example.net", true),
            ("b@example.net", false),
            ("c@example.net", false),
        ],
    ),
    ("dsn_norecipient", "bounce", &[("jdoe@example.net", true)]),
    ("exchange2003", "bounce", &[("jdoe@example.com", true)]),
    ("exchange2007", "bounce", &[("jdoe@example.com", true)]),
    ("exchange55", "bounce", &[("jdoe@example.com", true)]),
    ("exim_delay", "delayed", &[("jdoe@example.org", false)]),
    ("gmail_old", "bounce", &[("jdoe@example.org", true)]),
    (
        "groupwise",
        "bounce",
        &[("jdoe@example.com", true), ("asmith@example.com", true)],
    ),
    ("groupwise_local", "bounce", &[("jdoe@example.com", true)]),
    ("hotpop", "bounce", &[("jdoe@hotpop.com", true)]),
    ("llnl", "bounce", &[("jdoe@llnl.example.gov", true)]),
    ("netscape", "bounce", &[("jdoe@example.com", true)]),
    ("o365", "bounce", &[("jdoe@example.com", true)]),
    (
        "postfix_old",
        "bounce",
        &[("jdoe@example.org", true), ("full@example.org", false)],
    ),
    ("qmail_temp", "bounce", &[("jdoe@example.net", false)]),
    (
        "qmail_vpop",
        "bounce",
        &[("jdoe@example.net", true), ("full@example.net", true)],
    ),
    ("sendmail_old", "bounce", &[("jdoe@example.org", true)]),
    ("sendmail_warn", "delayed", &[("jdoe@example.org", false)]),
    ("smtp32", "bounce", &[("jdoe@example.com", true)]),
    ("webde", "bounce", &[("jdoe@web.de", true)]),
    ("yahoo", "bounce", &[("jdoe@yahoo.com", true)]),
    ("yahoo_new", "bounce", &[("jdoe@yahoo.com", true)]),
    ("sentence", "bounce", &[("jdoe@example.com", true)]),
    ("gmx_de", "bounce", &[("jdoe@gmx.de", true)]),
    ("mailru", "bounce", &[("jdoe@mail.ru", true)]),
    ("qmail_loop", "bounce", &[("jdoe@example.com", true)]),
    ("gmail_delay", "delayed", &[("jdoe@example.org", false)]),
    (
        "exim_two",
        "bounce",
        &[("jdoe@example.org", true), ("full@example.net", false)],
    ),
    (
        "exchange_multi",
        "bounce",
        &[("jdoe@example.com", true), ("asmith@example.com", true)],
    ),
    (
        "postfix_do_not_resend",
        "bounce",
        &[("gone@example.net", true)],
    ),
    (
        "sendmail_alias_transcript",
        "bounce",
        &[("gone@host.example.net", true)],
    ),
    (
        "sendmail_expanded_caps",
        "bounce",
        &[
            ("gone2@host.example.net", true),
            ("gone2@example.net", true),
        ],
    ),
    (
        "restated_to_postmaster",
        "bounce",
        &[("gone@isp.example", true)],
    ),
    // Members writing about failed mail, or forwarding a notice to ask
    // about it, are members.
    ("member_failed_mail", "ordinary", &[]),
    ("member_forwards_dsn", "ordinary", &[]),
    ("member_warning_subject", "ordinary", &[]),
    ("member_attaches_returned", "ordinary", &[]),
];

#[test]
fn every_format_names_its_failed_addresses_and_their_permanence() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/bounce_formats");
    let mut wrong = Vec::new();
    for (file, class, want) in CASES {
        let raw = std::fs::read(dir.join(format!("{file}.eml"))).unwrap();
        let got = explain(&raw, None);
        let recipients: Vec<(String, bool)> = got
            .recipients
            .iter()
            .flatten()
            .filter_map(|r| match r {
                Recipient::Bounced {
                    address, permanent, ..
                } => Some((address.clone().unwrap_or_default(), *permanent)),
                Recipient::Complaining { .. } => None,
            })
            .collect();
        let want: Vec<(String, bool)> = want.iter().map(|(a, p)| (a.to_string(), *p)).collect();
        if got.class != *class || recipients != want {
            wrong.push(format!(
                "{file}: {} {recipients:?}, want {class} {want:?}",
                got.class
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn reasons_follow_the_wording() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/bounce_formats");
    for (file, reason) in [
        ("yahoo", "suspend"),
        ("qmail_vpop", "userunknown"),
        ("groupwise", "userunknown"),
        ("aol_screen", "userunknown"),
        ("exim_delay", "mailboxfull"),
        ("sendmail_warn", "expired"),
        ("o365", "userunknown"),
        ("netscape", "mailboxfull"),
        ("qmail_loop", "networkerror"),
        ("exchange_multi", "userunknown"),
        ("yahoo_new", "userunknown"),
    ] {
        let got = explain(
            &std::fs::read(dir.join(format!("{file}.eml"))).unwrap(),
            None,
        );
        let Some(Recipient::Bounced { reason: r, .. }) = got.recipients.iter().flatten().next()
        else {
            panic!("{file}: {got:?}")
        };
        assert_eq!(r, reason, "{file}");
    }
}

/// Notes built to make a reader go over the same text again and again: a
/// megabyte line of field names, a note naming 200,000 addresses in its
/// sentences, 400,000 short lines after an AOL-style introduction. Each
/// was read in time growing with the square of its size (seconds to
/// minutes); read once, each takes well under a second, and a regression
/// shows as a test that does not finish.
#[test]
fn oversized_notes_are_read_once() {
    let post = format!(
        "From: Ann <ann@example.com>\nTo: pm@lists.example.org\nSubject: hi\n\n{}\n",
        "xfinal-recipient:".repeat(120_000)
    );
    assert_eq!(explain(post.as_bytes(), None).class, "ordinary");
    let inline: String = (0..200_000)
        .map(|i| format!("To: a{i}@x.example "))
        .collect();
    let notice = format!(
        "From: MAILER-DAEMON@mx.example.net\nTo: me@lists.example.org\nSubject: Undeliverable\n\n\
         Your message could not be delivered. {inline}\n"
    );
    let got = explain(notice.as_bytes(), None);
    assert_eq!(got.class, "bounce");
    let named = got.recipients.iter().flatten().count();
    assert!(named <= 50, "{named} recipients taken from sentences");
    let aol = format!(
        "From: MAILER-DAEMON@aol.com\nTo: me@lists.example.org\nSubject: Undeliverable\n\n\
         Your mail to the following recipients could not be delivered:\n{}",
        "x:\n".repeat(400_000)
    );
    assert_eq!(explain(aol.as_bytes(), None).class, "bounce");
}
