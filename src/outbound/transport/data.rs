//! One MAIL/RCPT/DATA transaction on a lettre connection, with the message
//! written in one piece.
//!
//! lettre's `AsyncSmtpConnection::send` dot-stuffs the message a byte at a
//! time into a fresh buffer (its `ClientCodec`), then writes and flushes the
//! body and the final `.` separately. For a 30 KB digest that per-byte loop
//! was a measurable share of the send path, so for ASCII mail (all gazette
//! composes: headers are RFC 2047-encoded and bodies quoted-printable) the
//! same commands go through lettre's public `command` and the body is
//! stuffed by scanning for line starts with a dot, and written with its
//! terminator in one write. Anything else takes lettre's own path.
//!
//! When the relay offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go in
//! one write and their replies are read in order: two round trips per
//! message instead of four. lettre does not keep that EHLO keyword, so
//! [`offers_pipelining`] asks for it once per connection.

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error;
use std::fmt;

/// Whether the relay offers PIPELINING, asked with a second EHLO (RFC 5321
/// allows one at any point outside a transaction; it changes nothing else).
/// Sent before any AUTH, since some servers forget authentication on EHLO.
pub async fn offers_pipelining(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, Error> {
    let reply = conn.command(Ehlo::new(hello.clone())).await?;
    let offered = reply.message().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("PIPELINING"))
    });
    Ok(offered)
}

/// Sends `message` to the envelope's recipients on `conn`, pipelining the
/// envelope when the relay allows it.
pub async fn transaction(
    conn: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Response, Error> {
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    let ascii_envelope = envelope.from().is_none_or(ascii) && envelope.to().iter().all(ascii);
    let body = match std::str::from_utf8(message) {
        Ok(text) if ascii_envelope && text.is_ascii() => text,
        _ => return conn.send(envelope, message).await,
    };
    if pipelining {
        // The first refusal is the one returned (a refused RCPT, not the
        // DATA refusal that follows from it); the caller then drops the
        // connection with any replies still unread.
        conn.command(Pipelined(envelope)).await?;
        for _ in envelope.to() {
            conn.read_response().await?;
        }
        conn.read_response().await?;
    } else {
        conn.command(Mail::new(envelope.from().cloned(), vec![]))
            .await?;
        for to in envelope.to() {
            conn.command(Rcpt::new(to.clone(), vec![])).await?;
        }
        conn.command(Data).await?;
    }
    conn.command(Stuffed(body)).await
}

/// MAIL, every RCPT and DATA, as one write.
struct Pipelined<'a>(&'a Envelope);

impl fmt::Display for Pipelined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Mail::new(self.0.from().cloned(), vec![]))?;
        for to in self.0.to() {
            write!(f, "{}", Rcpt::new(to.clone(), vec![]))?;
        }
        write!(f, "{Data}")
    }
}

/// A message body as it goes after `DATA`: a dot doubled at the start of
/// each line, then `CRLF.CRLF` (exactly what lettre's codec writes).
struct Stuffed<'a>(&'a str);

impl fmt::Display for Stuffed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.starts_with('.') {
            f.write_str(".")?;
        }
        // A SIMD search: this runs over every byte of every message sent.
        let mut from = 0;
        for at in memchr::memmem::find_iter(self.0.as_bytes(), b"\r\n.") {
            f.write_str(&self.0[from..at + 3])?;
            f.write_str(".")?;
            from = at + 3;
        }
        f.write_str(&self.0[from..])?;
        f.write_str("\r\n.\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::Stuffed;

    /// lettre's `ClientCodec::encode`, as in lettre 0.11.23, for comparison.
    fn lettre_codec(frame: &[u8]) -> Vec<u8> {
        #[derive(Clone, Copy)]
        enum S {
            Middle,
            Cr,
            Start,
        }
        let mut status = S::Start;
        let mut buf = Vec::new();
        for &b in frame {
            buf.push(b);
            match (b, status) {
                (b'\r', _) => status = S::Cr,
                (b'\n', S::Cr) => status = S::Start,
                (_, S::Cr) => status = S::Middle,
                (b'.', S::Start) => {
                    status = S::Middle;
                    buf.push(b'.');
                }
                (_, S::Start) => status = S::Middle,
                _ => {}
            }
        }
        buf.extend_from_slice(b"\r\n.\r\n");
        buf
    }

    #[test]
    fn the_pipelined_envelope_is_one_write_of_three_commands() {
        let envelope = lettre::address::Envelope::new(
            Some("bounces+x@example.org".parse().unwrap()),
            vec!["m@example.net".parse().unwrap()],
        )
        .unwrap();
        assert_eq!(
            super::Pipelined(&envelope).to_string(),
            "MAIL FROM:<bounces+x@example.org>\r\nRCPT TO:<m@example.net>\r\nDATA\r\n"
        );
    }

    #[test]
    fn stuffs_like_lettre() {
        for body in [
            "",
            ".",
            "..",
            "a\r\n.b\r\n..c\r\n.\r\n",
            ".start\r\nmid.dle\r\n\r\n.\r\n\r\n..\r\nend.",
            "bare\n.lf is not a line start\r.cr neither\r\n.",
            "x\r\r\n.y",
        ] {
            assert_eq!(
                Stuffed(body).to_string().into_bytes(),
                lettre_codec(body.as_bytes()),
                "{body:?}"
            );
        }
    }
}
