//! One SMTP or LMTP session: the command state machine (greeting, MAIL,
//! RCPT, DATA and the rest), calling the handler at RCPT and after DATA.

use super::body::DotDecoder;
use super::conn::{Conn, End, Line};
use super::{Envelope, MailHandler, Reply, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Longest command line, line ending included. RFC 5321 asks for 512, but
/// SMTPUTF8 addresses and parameters need room.
const MAX_COMMAND_LINE: usize = 4096;

/// Syntax and sequence errors tolerated before the session is dropped, so a
/// confused or hostile client cannot hold a connection slot forever.
const MAX_ERRORS: usize = 20;

/// Advertised after SIZE in the EHLO/LHLO reply.
const EXTENSIONS: &str = "8BITMIME\nPIPELINING\nENHANCEDSTATUSCODES\nSMTPUTF8";

pub(super) async fn run<H: MailHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
) {
    let mut session = Session {
        conn: Conn::new(
            stream,
            config.command_timeout,
            config.data_timeout,
            shutdown,
        ),
        config,
        handler,
        peer,
        helo: None,
        lmtp: false,
        mail_from: None,
        rcpt_to: Vec::new(),
        errors: 0,
    };
    tracing::debug!("SMTP session opened");
    let host = session.config.hostname.clone();
    session.conn.reply(&Reply::plain(
        220,
        format!("{host} ESMTP/LMTP gazette ready"),
    ));
    let end = session.commands().await;
    let last = farewell(&end, &host);
    match &end {
        End::Io(e) => tracing::debug!(error = %e, "SMTP session lost"),
        other => tracing::debug!(end = ?other, "SMTP session closed"),
    }
    session.conn.close(last).await;
}

/// What to tell a client whose session ends for `end`, if anything.
fn farewell(end: &End, host: &str) -> Option<Reply> {
    let (enhanced, why) = match end {
        End::Idle => ("4.4.2", "idle too long, closing"),
        End::Shutdown => ("4.3.2", "shutting down, try again later"),
        End::TooManyErrors => ("4.7.0", "too many errors, closing"),
        End::Quit | End::Closed | End::Io(_) => return None,
    };
    Some(Reply::new(421, enhanced, format!("{host} {why}")))
}

struct Session<H> {
    conn: Conn,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    peer: SocketAddr,
    helo: Option<String>,
    lmtp: bool,
    /// `Some` once MAIL FROM was accepted: a transaction is in progress.
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    errors: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hello {
    Helo,
    Ehlo,
    Lhlo,
}

impl<H: MailHandler> Session<H> {
    async fn commands(&mut self) -> End {
        loop {
            let in_transaction = self.mail_from.is_some();
            if !in_transaction && self.conn.shutting_down() {
                return End::Shutdown;
            }
            let line = match self.conn.read_line(MAX_COMMAND_LINE, in_transaction).await {
                Ok(Line::Text(line)) => line,
                Ok(Line::TooLong) => {
                    let limit = MAX_COMMAND_LINE;
                    self.error(Reply::new(
                        500,
                        "5.5.2",
                        format!("line too long; commands are at most {limit} bytes"),
                    ));
                    continue;
                }
                Ok(Line::Eof) => return End::Closed,
                Err(end) => return end,
            };
            if let Some(end) = self.command(&line).await {
                return end;
            }
            if self.errors > MAX_ERRORS {
                return End::TooManyErrors;
            }
        }
    }

    /// Queues a reply to a syntax or sequence error.
    fn error(&mut self, reply: Reply) {
        self.errors += 1;
        self.conn.reply(&reply);
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    /// Handles one command line; `Some` ends the session.
    async fn command(&mut self, line: &[u8]) -> Option<End> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let crlf = line.ends_with(b"\r");
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            self.error(Reply::new(500, "5.5.2", "command is not valid UTF-8"));
            return None;
        };
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "HELO" => self.hello(arg, Hello::Helo),
            "EHLO" => self.hello(arg, Hello::Ehlo),
            "LHLO" => self.hello(arg, Hello::Lhlo),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg).await,
            "DATA" => {
                if let Err(end) = self.data(arg, crlf).await {
                    return Some(end);
                }
            }
            "RSET" => {
                self.reset();
                self.conn.reply(&Reply::ok("reset"));
            }
            "NOOP" => self.conn.reply(&Reply::ok("ok")),
            "QUIT" => {
                let host = &self.config.hostname;
                self.conn.reply(&Reply::new(
                    221,
                    "2.0.0",
                    format!("{host} closing connection"),
                ));
                return Some(End::Quit);
            }
            "VRFY" => self.conn.reply(&Reply::new(
                252,
                "2.5.0",
                "cannot verify addresses; send the message and it will be routed",
            )),
            "HELP" => self.conn.reply(&Reply::new(
                214,
                "2.0.0",
                "commands: HELO EHLO LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
            )),
            "EXPN" | "STARTTLS" | "AUTH" | "BDAT" | "ETRN" | "TURN" | "ATRN" | "BURL" => self
                .error(Reply::new(
                    502,
                    "5.5.1",
                    format!("{verb} is not supported here"),
                )),
            "" => self.error(Reply::new(500, "5.5.2", "empty command; try HELP")),
            _ => self.error(Reply::new(
                500,
                "5.5.2",
                format!("unknown command {verb}; try HELP"),
            )),
        }
        None
    }

    fn hello(&mut self, arg: &str, kind: Hello) {
        if arg.is_empty() {
            let verb = match kind {
                Hello::Helo => "HELO",
                Hello::Ehlo => "EHLO",
                Hello::Lhlo => "LHLO",
            };
            let text = format!("{verb} needs your host name, as in: {verb} mail.example.org");
            self.error(Reply::new(501, "5.5.4", text));
            return;
        }
        self.reset();
        self.helo = Some(arg.to_string());
        self.lmtp = kind == Hello::Lhlo;
        let host = &self.config.hostname;
        let reply = match kind {
            Hello::Helo => Reply::plain(250, format!("{host} hello {arg}")),
            Hello::Ehlo | Hello::Lhlo => {
                let size = self.config.max_message_bytes;
                Reply::plain(
                    250,
                    format!("{host} hello {arg}\nSIZE {size}\n{EXTENSIONS}"),
                )
            }
        };
        self.conn.reply(&reply);
    }

    fn mail(&mut self, arg: &str) {
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "say EHLO (or LHLO) first"));
        }
        if self.mail_from.is_some() {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "sender already given; send RSET to start over",
            ));
        }
        let Some((path, params)) = strip_keyword(arg, "FROM:").and_then(split_path) else {
            return self.error(Reply::new(
                501,
                "5.5.4",
                "syntax: MAIL FROM:<address> [SIZE=n]",
            ));
        };
        for param in params.split_whitespace() {
            if let Err(reply) = self.mail_param(param) {
                return self.conn.reply(&reply);
            }
        }
        self.mail_from = Some(path);
        self.conn.reply(&Reply::new(250, "2.1.0", "sender ok"));
    }

    fn mail_param(&self, param: &str) -> Result<(), Reply> {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => {
                let max = self.config.max_message_bytes;
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                if !digits {
                    return Err(Reply::new(501, "5.5.4", "SIZE needs a number of bytes"));
                }
                // Too many digits for a u64 is too big for us as well.
                let size = value.parse::<u64>().unwrap_or(u64::MAX);
                if size > max as u64 {
                    let text = format!("message too big; the limit here is {max} bytes");
                    return Err(Reply::new(552, "5.3.4", text));
                }
                Ok(())
            }
            "BODY" if ["7BIT", "8BITMIME"].contains(&value.to_ascii_uppercase().as_str()) => Ok(()),
            "BODY" => Err(Reply::new(
                555,
                "5.5.4",
                "BODY must be 7BIT or 8BITMIME here",
            )),
            "SMTPUTF8" => Ok(()),
            _ => Err(Reply::new(
                555,
                "5.5.4",
                format!("MAIL parameter {key} is not supported"),
            )),
        }
    }

    async fn rcpt(&mut self, arg: &str) {
        if self.mail_from.is_none() {
            return self.error(Reply::new(503, "5.5.1", "send MAIL FROM first"));
        }
        let Some((path, params)) = strip_keyword(arg, "TO:").and_then(split_path) else {
            return self.error(Reply::new(501, "5.5.4", "syntax: RCPT TO:<address>"));
        };
        if path.is_empty() {
            return self.error(Reply::new(501, "5.1.3", "a recipient address is needed"));
        }
        if let Some(param) = params.split_whitespace().next() {
            let text = format!("RCPT parameter {param} is not supported");
            return self.conn.reply(&Reply::new(555, "5.5.4", text));
        }
        if self.rcpt_to.len() >= self.config.max_recipients {
            let text = "too many recipients; send the rest in another transaction";
            return self.conn.reply(&Reply::new(452, "4.5.3", text));
        }
        let reply = self.handler.check_recipient(&path).await;
        tracing::debug!(rcpt = %path, reply = %reply, "RCPT");
        if reply.is_positive() {
            self.rcpt_to.push(path);
        }
        self.conn.reply(&reply);
    }

    /// DATA: reads the body and answers it. `Err` ends the session.
    /// `crlf` says how the DATA line itself ended: a client that speaks
    /// CRLF ends its message only with CRLF.CRLF.
    async fn data(&mut self, arg: &str, crlf: bool) -> Result<(), End> {
        if !arg.is_empty() {
            self.error(Reply::new(501, "5.5.4", "DATA takes no arguments"));
            return Ok(());
        }
        let Some(mail_from) = self.mail_from.clone() else {
            self.error(Reply::new(503, "5.5.1", "send MAIL FROM and RCPT TO first"));
            return Ok(());
        };
        if self.rcpt_to.is_empty() {
            // RFC 2033 4.2: LMTP answers 503 here; SMTP's usual 554.
            let code = if self.lmtp { 503 } else { 554 };
            self.error(Reply::new(code, "5.5.1", "no valid recipients"));
            return Ok(());
        }
        self.conn
            .reply(&Reply::plain(354, "end data with <CR><LF>.<CR><LF>"));
        let mut decoder = DotDecoder::new(self.config.max_message_bytes, crlf);
        // A client that goes away mid-body has sent nothing: no reply owed.
        self.conn.read_body(&mut decoder).await?;
        let envelope = Envelope {
            peer: self.peer,
            helo: self.helo.clone().unwrap_or_default(),
            mail_from,
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            lmtp: self.lmtp,
        };
        self.reset();
        let replies = self.verdicts(&envelope, decoder.finish()).await;
        if envelope.lmtp {
            for reply in &replies {
                self.conn.reply(reply);
            }
        } else {
            self.conn.reply(pick_one(&replies));
        }
        Ok(())
    }

    /// One reply per recipient for the message (`None` if over the limit).
    async fn verdicts(&self, envelope: &Envelope, data: Option<Vec<u8>>) -> Vec<Reply> {
        let count = envelope.rcpt_to.len();
        let Some(data) = data else {
            let max = self.config.max_message_bytes;
            tracing::info!(from = %envelope.mail_from, max, "message too big; refused");
            let text = format!("message too big; the limit here is {max} bytes");
            return vec![Reply::new(552, "5.3.4", text); count];
        };
        let bytes = data.len();
        let mut replies = self.handler.deliver(envelope, data).await;
        if replies.len() != count {
            tracing::error!(
                expected = count,
                got = replies.len(),
                "handler gave the wrong number of replies"
            );
            replies.resize(
                count,
                Reply::new(451, "4.3.0", "internal error; try again later"),
            );
        }
        for (rcpt, reply) in envelope.rcpt_to.iter().zip(&replies) {
            let from = &envelope.mail_from;
            tracing::info!(%from, %rcpt, bytes, %reply, "message received");
        }
        replies
    }
}

/// The single SMTP reply for a message with several recipients: see
/// [`MailHandler::deliver`] for why temporary failures come first.
fn pick_one(replies: &[Reply]) -> &Reply {
    replies
        .iter()
        .find(|r| r.is_transient())
        .or_else(|| replies.iter().find(|r| !r.is_positive()))
        .unwrap_or(&replies[0])
}

/// `FROM:<a@b> SIZE=1` → `<a@b> SIZE=1`, case-insensitively.
fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| arg[keyword.len()..].trim_start())
}

/// Splits `<path> params` into the address and the parameters. Tolerates a
/// missing pair of brackets (some scripts send `MAIL FROM:a@b`) and drops an
/// RFC 5321 source route (`<@relay:a@b>`).
fn split_path(rest: &str) -> Option<(String, &str)> {
    let (path, params) = match rest.strip_prefix('<') {
        Some(inner) => inner.split_once('>')?,
        None => rest.split_once(' ').unwrap_or((rest, "")),
    };
    if path.contains(['<', '>']) {
        return None;
    }
    let path = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':')?.1,
        None => path,
    };
    Some((path.to_string(), params.trim()))
}
