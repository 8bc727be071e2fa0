//! The HTTP door: idle floods, connection caps, timeouts, bodies read only
//! when wanted, and `/metrics` kept off the public listener.

use super::{closed_by_server, Served};
use crate::common::{create_list, http, mail, smtp_send, spawn_app, sqlite_db, wait_for};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads what the server sends until it closes (or `secs` pass); returns
/// it and whether it closed.
async fn read_until_closed(s: &mut TcpStream, secs: u64) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

/// The status code of a raw HTTP response.
fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Under an open-file limit of 1,024, 1,100 idle HTTP connections take no
/// more than the HTTP cap: the server keeps its newest connections,
/// closes the oldest idle ones, stays far enough below the limit that SMTP
/// keeps its reserve, delivers mail, and answers `/healthz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http_flood_under_1024_files_leaves_smtp_and_healthz_working() {
    // The 1,100 client sockets live in this process.
    gazette::net::raise_open_file_limit();
    let app = Served::start(
        Some(1024),
        // Longer than the test, so only the cap closes connections.
        &[("GAZETTE_HTTP_HEADER_TIMEOUT_SECS", "120")],
    )
    .await;
    let log = app.log();
    assert!(
        log.contains("open-file limit") && log.contains("soft=1024") && log.contains("hard=1024"),
        "{log}"
    );
    let baseline = app.open_fds();

    let mut idle = Vec::with_capacity(1100);
    for i in 0..1100 {
        idle.push(TcpStream::connect(app.http).await.unwrap());
        // Paced a little, so the kernel's accept queue (1,024) does not
        // overflow and park a connection in SYN-ACK retransmission.
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // The default cap (512) fits under 1,024 beside SMTP's reserve, so it
    // holds: every connection past it displaced an idle one (or, when too
    // many were waiting to, was closed itself).
    let closed = wait_for(20, "the server to close all but 512", || async {
        let closed = idle.iter().filter(|s| closed_by_server(s)).count();
        (closed >= 1100 - 512).then_some(closed)
    })
    .await;
    let flooded_fds = app.open_fds();
    // The oldest idle ones made room for newer ones.
    assert!(closed_by_server(&idle[0]));

    // SMTP intake goes on during the flood...
    let raw = mail(
        "dana@example.org",
        "pm+subscribe@lists.example.org",
        "join",
        "hi",
        "flood-1@example.org",
    );
    smtp_send(
        app.smtp,
        "dana@example.org",
        "pm+subscribe@lists.example.org",
        &raw,
    )
    .await
    .expect("SMTP delivery during an idle HTTP flood");
    // ...and so does HTTP.
    assert_eq!(http("GET", &app.url("/healthz"), "").await.0, 200);
    // SMTP's 256 sessions still fit under the limit.
    assert!(flooded_fds + 256 < 1024, "{flooded_fds} descriptors open");
    eprintln!(
        "idle HTTP flood: 1100 sockets, server closed {closed}, kept {}; server fds {baseline} before, {flooded_fds} during (limit 1024)",
        1100 - closed
    );
}

/// One unauthenticated client: a POST /inbound announcing `size` bytes,
/// then trying to send them all. Returns the status it got and whether
/// the whole body could be sent (it cannot when the server does not read
/// it: the socket buffers hold far less than 5 MB).
async fn unauthenticated_post(addr: SocketAddr, size: usize, body: &'static [u8]) -> (u16, bool) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = s.into_split();
    let head = format!(
        "POST /inbound?recipient=pm@lists.example.org HTTP/1.1\r\nHost: gazette.test\r\nAuthorization: Bearer wrong-wrong-wrong-wrong\r\nContent-Type: message/rfc822\r\nContent-Length: {size}\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent < size {
            let n = body.len().min(size - sent);
            if write.write_all(&body[..n]).await.is_err() {
                return false;
            }
            sent += n;
        }
        true
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(got.is_ok(), "no response within 20 s");
    let sent_all = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .map(|r| r.unwrap())
        .unwrap_or(false);
    (status_of(&String::from_utf8_lossy(&response)), sent_all)
}

/// 100 clients POST 5 MB bodies to /inbound at once, with a wrong token
/// and with the endpoint off: each is refused (401, 404) from its head,
/// the bodies are never read, and the server's peak memory stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_inbound_bodies_are_refused_unread() {
    static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    const SIZE: usize = 5_000_000;
    for (secret, expected) in [("the-real-inbound-secret-0123456789", 401), ("", 404)] {
        let app = Served::start(None, &[("GAZETTE_INBOUND_SECRET", secret)]).await;
        let before = app.status_kb("VmRSS");
        let clients: Vec<_> = (0..100)
            .map(|_| tokio::spawn(unauthenticated_post(app.http, SIZE, &CHUNK)))
            .collect();
        let mut statuses = Vec::new();
        for c in clients {
            let (status, sent_all) = c.await.unwrap();
            assert!(!sent_all, "a {SIZE}-byte body was read in full");
            statuses.push(status);
        }
        assert!(statuses.iter().all(|s| *s == expected), "{statuses:?}");
        let peak = app.status_kb("VmHWM");
        eprintln!(
            "100 unauthenticated 5 MB POST /inbound (expect {expected}): RSS {before} kB before, peak {peak} kB"
        );
        assert!(peak < 100 * 1024, "peak RSS {peak} kB");
        assert_eq!(http("GET", &app.url("/healthz"), "").await.0, 200);
    }
}

/// Raw HTTP/1.1 request with the given head lines and body; returns the
/// response as text, read until the server closes.
async fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await;
    read_until_closed(&mut s, 10).await.0
}

/// An authenticated client's body is read and handled; a declared size
/// over the limit is refused before reading; other routes take small
/// bodies only.
#[tokio::test]
async fn bodies_are_limited_per_route() {
    let db = sqlite_db();
    let app = spawn_app(
        &db,
        "file:///nonexistent",
        &[(
            "GAZETTE_INBOUND_SECRET",
            "the-real-inbound-secret-0123456789",
        )],
    )
    .await;
    create_list(&app, "0 8 * * MON").await;
    let raw = mail(
        "dana@example.org",
        "pm+subscribe@lists.example.org",
        "join",
        "hi",
        "http-1@example.org",
    );
    let head = |auth: &str, len: usize| {
        format!(
            "POST /inbound?recipient=pm%2Bsubscribe%40lists.example.org&sender=dana%40example.org HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {auth}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    let ok = raw_request(
        app.http_addr,
        &head("the-real-inbound-secret-0123456789", raw.len()),
        raw.as_bytes(),
    )
    .await;
    assert_eq!(status_of(&ok), 200, "{ok}");
    let wrong = raw_request(app.http_addr, &head("nope", raw.len()), raw.as_bytes()).await;
    assert_eq!(status_of(&wrong), 401, "{wrong}");
    // Declared over GAZETTE_MAX_MESSAGE_BYTES: refused without a byte read.
    let big = raw_request(
        app.http_addr,
        &head("the-real-inbound-secret-0123456789", 50 << 20),
        b"",
    )
    .await;
    assert_eq!(status_of(&big), 413, "{big}");
    // A form route refuses a large body before its handler runs.
    let form = raw_request(
        app.http_addr,
        "POST /unsubscribe/abc HTTP/1.1\r\nHost: g\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(status_of(&form), 413, "{form}");
    app.stop().await;
}

/// Opens `n` connections each with an authenticated /inbound request
/// whose handler is reading the body (the server has said `100 Continue`),
/// and only part of that body sent: each keeps a request in progress.
async fn busy_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut busy = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = "POST /inbound?recipient=pm@lists.example.org HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer the-real-inbound-secret-0123456789\r\nContent-Length: 1000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
        s.write_all(head.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("100 Continue within 10 s")
                .unwrap();
            assert!(n > 0, "closed before 100 Continue");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 100"), "{got:?}");
        s.write_all(b"From: a@example.org\r\n").await.unwrap();
        busy.push(s);
    }
    busy
}

/// At the cap, a newcomer displaces the connection idle longest; when
/// every connection is busy with a request, it gets a 503 at once.
#[tokio::test]
async fn the_connection_cap_displaces_idle_connections_then_answers_503() {
    let db = sqlite_db();
    let app = spawn_app(
        &db,
        "file:///nonexistent",
        &[
            ("GAZETTE_HTTP_MAX_CONNECTIONS", "4"),
            (
                "GAZETTE_INBOUND_SECRET",
                "the-real-inbound-secret-0123456789",
            ),
        ],
    )
    .await;
    create_list(&app, "0 8 * * MON").await;
    let healthz = format!("http://{}/healthz", app.http_addr);

    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(app.http_addr).await.unwrap());
    }
    assert_eq!(http("GET", &healthz, "").await.0, 200);
    let (_, oldest_closed) = read_until_closed(&mut idle[0], 5).await;
    assert!(
        oldest_closed,
        "the oldest idle connection was not displaced"
    );
    assert!(!closed_by_server(&idle[3]));
    drop(idle);

    let mut busy = busy_connections(app.http_addr, 4).await;
    let mut extra = TcpStream::connect(app.http_addr).await.unwrap();
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut extra, 10).await;
    assert_eq!(status_of(&response), 503, "{response}");
    assert!(response.contains("Retry-After"), "{response}");
    assert!(closed);

    // A busy connection that finishes frees its place.
    let rest = "Subject: late\r\n\r\n".to_string();
    let rest = format!(
        "{rest}{}",
        "x".repeat(1000 - "From: a@example.org\r\n".len() - rest.len())
    );
    busy[0].write_all(rest.as_bytes()).await.unwrap();
    let (done, _) = read_until_closed(&mut busy[0], 10).await;
    assert_eq!(status_of(&done), 200, "{done}");
    drop(busy.remove(0));
    wait_for(10, "a free connection", || async {
        (http("GET", &healthz, "").await.0 == 200).then_some(())
    })
    .await;
    drop(busy);
    app.stop().await;
}

/// A client must send its request head within the header timeout: after
/// connecting, mid-head, and between keep-alive requests; and a form's
/// body within it too.
#[tokio::test]
async fn slow_and_idle_clients_are_closed_after_the_header_timeout() {
    let db = sqlite_db();
    let app = spawn_app(
        &db,
        "file:///nonexistent",
        &[("GAZETTE_HTTP_HEADER_TIMEOUT_SECS", "1")],
    )
    .await;
    let mut silent = TcpStream::connect(app.http_addr).await.unwrap();
    let mut slow = TcpStream::connect(app.http_addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: g\r\n")
        .await
        .unwrap();
    let mut kept = TcpStream::connect(app.http_addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
        .await
        .unwrap();
    let mut slow_form = TcpStream::connect(app.http_addr).await.unwrap();
    slow_form
        .write_all(
            b"POST /unsubscribe/abc HTTP/1.1\r\nHost: g\r\nContent-Length: 100\r\n\r\nList-Unsub",
        )
        .await
        .unwrap();
    assert!(read_until_closed(&mut silent, 10).await.1);
    let (response, closed) = read_until_closed(&mut slow_form, 10).await;
    assert_eq!(status_of(&response), 408, "{response}");
    assert!(closed);
    assert!(read_until_closed(&mut slow, 10).await.1);
    let (response, closed) = read_until_closed(&mut kept, 10).await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(closed, "an idle keep-alive connection stayed open");
    app.stop().await;
}

/// `/metrics` is not public by default; a token or a listener of its own
/// serves it. `/healthz` stays public.
#[tokio::test]
async fn metrics_are_off_the_public_listener() {
    let token = "metrics-token-0123456789abcdef";
    let get = |addr: SocketAddr, path: &str, auth: Option<&str>| {
        let auth = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!("GET {path} HTTP/1.1\r\nHost: g\r\n{auth}Connection: close\r\n\r\n");
        async move { status_of(&raw_request(addr, &head, b"").await) }
    };

    let db = sqlite_db();
    let app = spawn_app(&db, "file:///nonexistent", &[]).await;
    assert_eq!(get(app.http_addr, "/metrics", None).await, 404);
    assert_eq!(get(app.http_addr, "/healthz", None).await, 200);
    app.stop().await;

    let db = sqlite_db();
    let app = spawn_app(
        &db,
        "file:///nonexistent",
        &[("GAZETTE_METRICS_TOKEN", token)],
    )
    .await;
    assert_eq!(get(app.http_addr, "/metrics", None).await, 401);
    assert_eq!(get(app.http_addr, "/metrics", Some("guess")).await, 401);
    assert_eq!(get(app.http_addr, "/metrics", Some(token)).await, 200);
    app.stop().await;

    let db = sqlite_db();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{}", crate::common::free_port())
        .parse()
        .unwrap();
    let app = spawn_app(
        &db,
        "file:///nonexistent",
        &[("GAZETTE_METRICS_ADDR", &metrics_addr.to_string())],
    )
    .await;
    assert_eq!(get(app.http_addr, "/metrics", None).await, 404);
    assert_eq!(get(metrics_addr, "/metrics", None).await, 200);
    assert_eq!(get(metrics_addr, "/healthz", None).await, 200);
    assert_eq!(get(metrics_addr, "/confirm/x", None).await, 404);
    app.stop().await;
}
