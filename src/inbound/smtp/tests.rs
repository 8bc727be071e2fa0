//! End-to-end tests over real sockets: a raw TCP client talks to `serve`.

use super::{serve, Envelope, MailHandler, Reply, ServerConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Refuses recipients starting with `unknown`; fails delivery temporarily
/// for `later…` and permanently for `reject…`; accepts the rest.
#[derive(Default)]
struct Recorder {
    messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl Recorder {
    fn messages(&self) -> Vec<(Envelope, Vec<u8>)> {
        self.messages.lock().unwrap().clone()
    }
}

impl MailHandler for Recorder {
    async fn check_recipient(&self, rcpt: &str) -> Reply {
        if rcpt.starts_with("unknown") {
            Reply::new(550, "5.1.1", format!("no such address: {rcpt}"))
        } else {
            Reply::new(250, "2.1.5", "recipient ok")
        }
    }

    async fn deliver(&self, envelope: &Envelope, data: Vec<u8>) -> Vec<Reply> {
        self.messages.lock().unwrap().push((envelope.clone(), data));
        let verdict = |rcpt: &String| match rcpt {
            r if r.starts_with("later") => Reply::new(451, "4.3.0", "try again later"),
            r if r.starts_with("reject") => Reply::new(554, "5.6.0", "rejected"),
            _ => Reply::ok("accepted"),
        };
        envelope.rcpt_to.iter().map(verdict).collect()
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        hostname: "mx.test".into(),
        max_message_bytes: 1000,
        command_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_secs(5),
        max_recipients: 3,
        max_connections: 8,
        max_per_client: 8,
        connects_per_minute: 0,
    }
}

struct Server {
    addr: SocketAddr,
    handler: Arc<Recorder>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(Recorder::default());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, config, handler.clone(), stopped));
    Server {
        addr,
        handler,
        stop,
        task,
    }
}

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        Client {
            reader: BufReader::new(read),
            writer: write,
        }
    }

    /// Connects and checks the greeting.
    async fn open(addr: SocketAddr) -> Client {
        let mut client = Client::connect(addr).await;
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 mx.test"), "{greeting}");
        client
    }

    async fn send(&mut self, raw: &str) {
        self.writer.write_all(raw.as_bytes()).await.unwrap();
    }

    /// Reads one reply, all its lines joined with `\n`; "" at end of input.
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line);
            let n = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("no reply within 10 s")
                .unwrap();
            if n == 0 {
                return lines.join("\n");
            }
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: &str) -> String {
        let reply = self.cmd(line).await;
        assert!(reply.starts_with(code), "{line} → {reply}, expected {code}");
        reply
    }

    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let read = self.reader.read_to_end(&mut rest);
        matches!(
            tokio::time::timeout(Duration::from_secs(10), read).await,
            Ok(Ok(0))
        )
    }
}

#[tokio::test]
async fn full_transaction() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    let ehlo = c.expect("EHLO client.example", "250").await;
    for ext in [
        "SIZE 1000",
        "8BITMIME",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
    ] {
        assert!(
            ehlo.lines().any(|l| l[4..] == *ext),
            "{ext} missing from {ehlo}"
        );
    }
    assert!(!ehlo.contains("STARTTLS"));
    c.expect(
        "MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8",
        "250 2.1.0",
    )
    .await;
    c.expect("RCPT TO:<pm@lists.example.org>", "250 2.1.5")
        .await;
    c.expect("DATA", "354").await;
    c.send("Subject: hi\r\n\r\nHello\r\n").await;
    assert!(c.cmd(".").await.starts_with("250 2.0.0 accepted"));
    c.expect("QUIT", "221 2.0.0").await;
    assert!(c.closed().await);

    let messages = server.handler.messages();
    let (envelope, data) = &messages[0];
    assert_eq!(envelope.helo, "client.example");
    assert_eq!(envelope.mail_from, "alice@example.org");
    assert_eq!(envelope.rcpt_to, ["pm@lists.example.org"]);
    assert!(!envelope.lmtp);
    assert_eq!(data, b"Subject: hi\r\n\r\nHello\r\n");
}

#[tokio::test]
async fn pipelined_in_one_write() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    // Two whole transactions, bodies included, in a single write.
    c.send(concat!(
        "EHLO client\r\nMAIL FROM:<>\r\nRCPT TO:<a@l>\r\nRCPT TO:<unknown@l>\r\nRCPT TO:<b@l>\r\n",
        "DATA\r\nfirst\r\n.\r\n",
        "MAIL FROM:<c@x>\r\nRCPT TO:<d@l>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n"
    ))
    .await;
    let expected = [
        "250", "250", "250", "550", "250", "354", "250", "250", "250", "354", "250", "221",
    ];
    for code in expected {
        let reply = c.reply().await;
        assert!(reply.starts_with(code), "got {reply}, expected {code}");
    }
    let messages = server.handler.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].0.mail_from, "");
    assert_eq!(messages[0].0.rcpt_to, ["a@l", "b@l"]);
    assert_eq!(messages[0].1, b"first\r\n");
    assert_eq!(messages[1].0.rcpt_to, ["d@l"]);
    assert_eq!(messages[1].1, b"second\r\n");
}

#[tokio::test]
async fn unknown_recipient_is_refused_at_rcpt() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    c.expect("EHLO client", "250").await;
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<unknown@l>", "550 5.1.1").await;
    c.expect("DATA", "554").await;
    assert!(server.handler.messages().is_empty());
}

#[tokio::test]
async fn size_parameter_over_the_limit() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    c.expect("EHLO client", "250").await;
    c.expect("MAIL FROM:<a@x> SIZE=5000", "552 5.3.4").await;
    // No transaction was opened, so a smaller one may follow.
    c.expect("MAIL FROM:<a@x> SIZE=500", "250").await;
}

#[tokio::test]
async fn oversize_body_then_the_session_goes_on() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    c.expect("EHLO client", "250").await;
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<b@l>", "250").await;
    c.expect("DATA", "354").await;
    c.send(&"0123456789012345678901234567890123456789\r\n".repeat(100))
        .await;
    c.expect(".", "552 5.3.4").await;
    assert!(server.handler.messages().is_empty());

    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<b@l>", "250").await;
    c.expect("DATA", "354").await;
    c.send("small\r\n").await;
    c.expect(".", "250").await;
    assert_eq!(server.handler.messages()[0].1, b"small\r\n");
}

#[tokio::test]
async fn lmtp_replies_once_per_accepted_recipient() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    let lhlo = c.expect("LHLO client", "250").await;
    assert!(lhlo.contains("PIPELINING"));
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<ok@l>", "250").await;
    c.expect("RCPT TO:<unknown@l>", "550").await;
    c.expect("RCPT TO:<later@l>", "250").await;
    c.expect("DATA", "354").await;
    c.send("hello\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.reply().await.starts_with("451 4.3.0"));
    c.expect("NOOP", "250").await;
    let (envelope, _) = &server.handler.messages()[0];
    assert!(envelope.lmtp);
    assert_eq!(envelope.rcpt_to, ["ok@l", "later@l"]);
}

#[tokio::test]
async fn smtp_sends_one_reply_temporary_first() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    c.expect("EHLO client", "250").await;
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<ok@l>", "250").await;
    c.expect("RCPT TO:<reject@l>", "250").await;
    c.expect("RCPT TO:<later@l>", "250").await;
    c.expect("DATA", "354").await;
    c.send("hello\r\n").await;
    c.expect(".", "451 4.3.0").await;
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<ok@l>", "250").await;
    c.expect("RCPT TO:<reject@l>", "250").await;
    c.expect("DATA", "354").await;
    c.expect(".", "554 5.6.0").await;
}

#[tokio::test]
async fn dot_unstuffing() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    c.send("HELO client\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@l>\r\nDATA\r\n")
        .await;
    for code in ["250", "250", "250", "354"] {
        assert!(c.reply().await.starts_with(code));
    }
    c.send("line\r\n..leading dot\r\n...\r\n.x\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    assert_eq!(
        server.handler.messages()[0].1,
        b"line\r\n.leading dot\r\n..\r\nx\r\n"
    );
}

#[tokio::test]
async fn bare_lf_line_endings() {
    let server = start(config()).await;
    let mut c = Client::open(server.addr).await;
    c.send("HELO client\nMAIL FROM:<a@x>\nRCPT TO:<b@l>\nDATA\n")
        .await;
    for code in ["250", "250", "250", "354"] {
        assert!(c.reply().await.starts_with(code));
    }
    c.send("Subject: x\n\nbody\r\nmixed\n..dot\n.\nQUIT\n")
        .await;
    assert!(c.reply().await.starts_with("250"));
    assert!(c.reply().await.starts_with("221"));
    assert_eq!(
        server.handler.messages()[0].1,
        b"Subject: x\n\nbody\r\nmixed\n.dot\n"
    );
}

#[tokio::test]
async fn command_errors() {
    let mut cfg = config();
    cfg.max_recipients = 2;
    let server = start(cfg).await;
    let mut c = Client::open(server.addr).await;
    c.expect("MAIL FROM:<a@x>", "503").await;
    c.expect("EHLO", "501").await;
    c.expect("EHLO client", "250").await;
    c.expect("RCPT TO:<b@l>", "503").await;
    c.expect("DATA", "503").await;
    c.expect("FROB", "500").await;
    c.expect("STARTTLS", "502").await;
    c.expect("VRFY someone", "252").await;
    c.expect("HELP", "214").await;
    c.expect("NOOP", "250").await;
    c.expect(&format!("NOOP {}", "x".repeat(5000)), "500 5.5.2")
        .await;
    c.expect("MAIL FROM:<a@x> NOTIFY=NEVER", "555").await;
    c.expect("MAIL FROM a@x", "501").await;
    c.expect("mail from:<a@x>", "250").await;
    c.expect("MAIL FROM:<a@x>", "503").await;
    c.expect("RCPT TO:<>", "501").await;
    c.expect("RCPT TO:<b@l>", "250").await;
    c.expect("RCPT TO:<c@l>", "250").await;
    c.expect("RCPT TO:<d@l>", "452 4.5.3").await;
    c.expect("RSET", "250").await;
    c.expect("RCPT TO:<b@l>", "503").await;
}

#[tokio::test]
async fn command_timeout_closes_with_421() {
    let mut cfg = config();
    cfg.command_timeout = Duration::from_millis(200);
    cfg.data_timeout = Duration::from_secs(30);
    let server = start(cfg).await;
    // Before the first command...
    let mut c = Client::open(server.addr).await;
    assert!(c.reply().await.starts_with("421 4.4.2"));
    assert!(c.closed().await);
    // ...and between commands, in a transaction too: the long data
    // timeout (longer than `reply` waits) does not apply there.
    let mut c = Client::open(server.addr).await;
    c.expect("EHLO client", "250").await;
    c.expect("MAIL FROM:<a@x>", "250").await;
    assert!(c.reply().await.starts_with("421 4.4.2"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn data_gets_the_long_timeout_only_while_it_streams() {
    let mut cfg = config();
    cfg.command_timeout = Duration::from_millis(300);
    cfg.data_timeout = Duration::from_millis(1500);
    let server = start(cfg).await;
    let mut c = Client::open(server.addr).await;
    c.expect("EHLO client", "250").await;
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<b@l>", "250").await;
    c.expect("DATA", "354").await;
    // Pauses longer than the command timeout are fine inside DATA.
    for piece in ["Subject: slow\r\n", "\r\nbody\r\n"] {
        tokio::time::sleep(Duration::from_millis(600)).await;
        c.send(piece).await;
    }
    c.expect(".", "250").await;
    assert_eq!(server.handler.messages().len(), 1);

    // A body that stops arriving is cut after the data timeout.
    c.expect("MAIL FROM:<a@x>", "250").await;
    c.expect("RCPT TO:<b@l>", "250").await;
    c.expect("DATA", "354").await;
    c.send("half a messa").await;
    assert!(c.reply().await.starts_with("421 4.4.2"));
    assert!(c.closed().await);
    assert_eq!(server.handler.messages().len(), 1);
}

/// Connects from `source` (a loopback address) to `addr`.
async fn connect_from(source: &str, addr: SocketAddr) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let (read, write) = socket.connect(addr).await.unwrap().into_split();
    Client {
        reader: BufReader::new(read),
        writer: write,
    }
}

#[tokio::test]
async fn one_client_gets_its_share_of_sessions() {
    let mut cfg = config();
    cfg.max_per_client = 2;
    let server = start(cfg).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect_from("127.0.0.1", server.addr).await;
        assert!(c.reply().await.starts_with("220"));
        held.push(c);
    }
    let mut third = connect_from("127.0.0.1", server.addr).await;
    let refusal = third.reply().await;
    assert!(refusal.starts_with("421 4.7.0"), "{refusal}");
    assert!(third.closed().await);
    // Another client is let in while the first is at its cap.
    let mut other = connect_from("127.0.0.2", server.addr).await;
    assert!(other.reply().await.starts_with("220"));
    other.expect("QUIT", "221").await;
    for c in &mut held {
        c.expect("NOOP", "250").await;
    }
}

#[tokio::test]
async fn one_client_may_connect_only_so_often() {
    let mut cfg = config();
    cfg.connects_per_minute = 3;
    let server = start(cfg).await;
    for _ in 0..3 {
        let mut c = connect_from("127.0.0.1", server.addr).await;
        assert!(c.reply().await.starts_with("220"));
        c.expect("QUIT", "221").await;
    }
    let mut fourth = connect_from("127.0.0.1", server.addr).await;
    let refusal = fourth.reply().await;
    assert!(refusal.starts_with("421 4.7.0"), "{refusal}");
    assert!(fourth.closed().await);
    let mut other = connect_from("127.0.0.2", server.addr).await;
    assert!(other.reply().await.starts_with("220"));
}

#[tokio::test]
async fn too_many_connections_get_421() {
    let mut cfg = config();
    cfg.max_connections = 1;
    let server = start(cfg).await;
    let mut first = Client::open(server.addr).await;
    let mut second = Client::connect(server.addr).await;
    assert!(second.reply().await.starts_with("421"));
    assert!(second.closed().await);
    first.expect("NOOP", "250").await;
    first.expect("QUIT", "221").await;
    assert!(first.closed().await);
    // The slot is free again once the first session has ended.
    for _ in 0..50 {
        let mut third = Client::connect(server.addr).await;
        if third.reply().await.starts_with("220") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the connection slot was never released");
}

#[tokio::test]
async fn shutdown_lets_a_transaction_finish() {
    let server = start(config()).await;
    let mut idle = Client::open(server.addr).await;
    idle.expect("EHLO idle", "250").await;
    let mut busy = Client::open(server.addr).await;
    busy.expect("EHLO busy", "250").await;
    busy.expect("MAIL FROM:<a@x>", "250").await;
    busy.expect("RCPT TO:<b@l>", "250").await;

    server.stop.send(true).unwrap();
    assert!(idle.reply().await.starts_with("421 4.3.2"));
    assert!(idle.closed().await);
    busy.expect("DATA", "354").await;
    busy.send("last one\r\n").await;
    busy.expect(".", "250").await;
    assert!(busy.reply().await.starts_with("421 4.3.2"));
    assert!(busy.closed().await);

    let result = tokio::time::timeout(Duration::from_secs(10), server.task).await;
    assert!(result.expect("serve did not return").unwrap().is_ok());
    assert_eq!(server.handler.messages()[0].1, b"last one\r\n");
    assert!(TcpStream::connect(server.addr).await.is_err());
}
