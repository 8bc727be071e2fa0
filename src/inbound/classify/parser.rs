//! How gazette has mail-parser read a message's headers: as its default
//! parser does, but for the trace and signature fields (Received,
//! DKIM-Signature, ARC-*, Authentication-Results, ...) and the Date
//! fields, whose values nothing in gazette reads as parsed and which are
//! the costliest part of parsing a bounce.

use mail_parser::MessageParser;
use std::sync::LazyLock;

/// mail-parser's default reading of every header, except that the
/// [`SKIPPED`] fields are stepped over rather than parsed or copied
/// (their raw text stays at hand through `header_raw` and `headers_raw`,
/// which is how sender authentication reads Authentication-Results): a
/// bounce carries dozens of Received fields and several long signatures
/// (its own and the returned original's), whose parsing was about a
/// third of the cost of parsing a report.
pub static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    use mail_parser::HeaderName as H;
    let text = [
        H::Subject,
        H::Comments,
        H::ContentDescription,
        H::ContentLocation,
        H::ContentTransferEncoding,
    ];
    let address = [
        H::From,
        H::To,
        H::Cc,
        H::Bcc,
        H::ReplyTo,
        H::Sender,
        H::ResentTo,
        H::ResentFrom,
        H::ResentBcc,
        H::ResentCc,
        H::ResentSender,
        H::ListArchive,
        H::ListHelp,
        H::ListId,
        H::ListOwner,
        H::ListPost,
        H::ListSubscribe,
        H::ListUnsubscribe,
    ];
    let id = [
        H::MessageId,
        H::References,
        H::InReplyTo,
        H::ReturnPath,
        H::ContentId,
        H::ResentMessageId,
    ];
    let mut parser = MessageParser::new()
        .default_header_raw()
        .header_comma_separated(H::Keywords)
        .header_comma_separated(H::ContentLanguage)
        .header_content_type(H::ContentType)
        .header_content_type(H::ContentDisposition);
    for h in SKIPPED {
        parser = parser.ignore_header(h.clone());
    }
    for h in text {
        parser = parser.header_text(h);
    }
    for h in address {
        parser = parser.header_address(h);
    }
    for h in id {
        parser = parser.header_id(h);
    }
    parser
});

/// Trace and signature fields, read raw or not at all; and the Date
/// fields: gazette dates a message by when it arrived, never by what the
/// sender's clock wrote.
const SKIPPED: &[mail_parser::HeaderName<'static>] = {
    use mail_parser::HeaderName as H;
    use std::borrow::Cow::Borrowed as B;
    &[
        H::Received,
        H::Date,
        H::ResentDate,
        H::DkimSignature,
        H::ArcSeal,
        H::ArcMessageSignature,
        H::ArcAuthenticationResults,
        H::AuthenticationResults,
        H::Other(B("X-Received")),
        H::Other(B("Received-SPF")),
        H::Other(B("DomainKey-Signature")),
        H::Other(B("X-Google-DKIM-Signature")),
    ]
};

#[cfg(test)]
mod tests {
    use super::super::parse_message;
    use mail_parser::{Message, MessageParser};

    #[test]
    fn headers_read_as_mail_parser_reads_them_but_trace_and_signatures() {
        let raw = "Received: from a.example (a.example [192.0.2.1]) by b.example with ESMTP id 1; Thu, 1 Jan 2026 00:00:00 +0000\n\
            Authentication-Results: mx.b.example; spf=pass smtp.mailfrom=b.example\n\
            DKIM-Signature: v=1; a=rsa-sha256; d=b.example; s=s1;\n\tbh=abc=; b=def=\n\
            Return-Path: <>\nFrom: =?utf-8?q?Mail_Delivery?= <MAILER-DAEMON@b.example>\nTo: a@x.example, b@y.example\n\
            Cc: c@z.example\nSubject: =?utf-8?q?Undelivered_=C3=A9?=\nDate: Thu, 1 Jan 2026 00:00:00 +0000\n\
            Message-ID: <m@b.example>\nIn-Reply-To: <p@x.example>\nReferences: <o@x.example> <p@x.example>\n\
            List-Id: <l.example>\nKeywords: a, b\nContent-Language: en\nX-Other: =?utf-8?q?raw?=\n\
            MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\nContent-Transfer-Encoding: 7bit\nContent-Description: note\n\nSorry.\n\
            --b\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n\
            Received: from c.example by a.example; Thu, 1 Jan 2026 00:00:00 +0000\nFrom: a@x.example\n\
            To: d@w.example\nMessage-ID: <o2@x.example>\nSubject: hi\n\nbody\n--b--\n";
        let ours = parse_message(raw.as_bytes()).unwrap();
        let theirs = MessageParser::default().parse(raw.as_bytes()).unwrap();
        use mail_parser::{HeaderName, HeaderValue};
        fn headers<'a>(m: &Message<'a>) -> Vec<(HeaderName<'a>, HeaderValue<'a>)> {
            let mut all: Vec<_> = m.parts.iter().flat_map(|p| p.headers.clone()).collect();
            for p in &m.parts {
                if let Some(inner) = p.message() {
                    all.extend(inner.parts.iter().flat_map(|p| p.headers.clone()));
                }
            }
            all.into_iter()
                .filter(|h| !super::SKIPPED.contains(&h.name))
                .map(|h| (h.name, h.value))
                .collect()
        }
        assert_eq!(headers(&ours).len(), 23);
        assert_eq!(headers(&ours), headers(&theirs));
        for name in [
            "Received",
            "Authentication-Results",
            "DKIM-Signature",
            "Date",
        ] {
            assert!(ours.header_raw(name).is_some(), "{name}");
            assert_eq!(
                ours.header_raw(name).map(str::trim),
                theirs.header_raw(name).map(str::trim)
            );
        }
        let raw_names: Vec<&str> = ours.headers_raw().map(|(n, _)| n).collect();
        assert_eq!(
            &raw_names[..3],
            ["Received", "Authentication-Results", "DKIM-Signature"]
        );
    }
}
