//! Both doors under abuse, on loopback: floods of idle and slow
//! connections, large unauthenticated bodies, forged tokens and probing
//! replies, against the HTTP listener ([`http`]) and the SMTP/LMTP listener
//! ([`smtp`]). Counts and times are bounded so they run on two cores.
//!
//! The flood tests run the real `gazette serve` binary ([`Served`]) so its
//! open-file limit and memory can be set and measured on their own.

mod http;
mod smtp;

use crate::common::{free_port, gazette_cmd, http as http_get, sqlite_db, wait_for, TestDb};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

/// Connects from `source` (any 127.x.y.z works on Linux) to `addr`, so
/// one test can be several clients.
pub async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the server is done with `s`: it has closed it (end of input or
/// reset) or answered on it (a refusal, before closing). `false` while it
/// is open and silent. Asks the kernel directly, without waiting and
/// without tokio's cached readiness, which lags for sockets nobody polls.
pub fn closed_by_server(s: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    // SAFETY: a one-byte peek into a buffer we own, on a socket we own.
    let n = unsafe {
        libc::recv(
            s.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock
}

/// A raw SMTP client: sees every reply as sent, and can pick its source.
pub struct Smtp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Smtp {
    pub async fn connect_from(source: &str, addr: SocketAddr) -> Smtp {
        let (read, write) = connect_from(source, addr).await.into_split();
        Smtp {
            reader: BufReader::new(read),
            writer: write,
        }
    }

    /// One reply, its lines joined with `\n`; "" when the server closed.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line);
            let n = match tokio::time::timeout(Duration::from_secs(15), read).await {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0, // reset: as good as closed
                Err(_) => panic!("no reply within 15 s (so far: {lines:?})"),
            };
            if n == 0 {
                return lines.join("\n");
            }
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    pub async fn send(&mut self, raw: &str) {
        self.writer.write_all(raw.as_bytes()).await.unwrap();
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }

    /// Sends `line` and checks the reply starts with `code`.
    pub async fn expect(&mut self, line: &str, code: &str) -> String {
        let reply = self.cmd(line).await;
        assert!(
            reply.starts_with(code),
            "{line} → {reply:?}, expected {code}"
        );
        reply
    }

    /// Whether the server closes the connection (within 15 s).
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let read = self.reader.read_to_end(&mut rest);
        matches!(
            tokio::time::timeout(Duration::from_secs(15), read).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// A whole transaction after the greeting; returns the RCPT replies
    /// and the replies after DATA (one per accepted recipient with LMTP).
    pub async fn transaction(
        &mut self,
        hello: &str,
        from: &str,
        rcpts: &[&str],
        raw: &str,
    ) -> (Vec<String>, Vec<String>) {
        self.expect(&format!("{hello} client.test"), "250").await;
        self.expect(&format!("MAIL FROM:<{from}>"), "250").await;
        let mut rcpt_replies = Vec::new();
        for rcpt in rcpts {
            rcpt_replies.push(self.cmd(&format!("RCPT TO:<{rcpt}>")).await);
        }
        let accepted = rcpt_replies.iter().filter(|r| r.starts_with("250")).count();
        let data = self.cmd("DATA").await;
        if accepted == 0 {
            return (rcpt_replies, vec![data]);
        }
        assert!(data.starts_with("354"), "DATA → {data}");
        let body = raw.replace("\r\n.", "\r\n..");
        self.send(&format!("{body}\r\n.\r\n")).await;
        let count = if hello == "LHLO" { accepted } else { 1 };
        let mut verdicts = Vec::new();
        for _ in 0..count {
            verdicts.push(self.reply().await);
        }
        (rcpt_replies, verdicts)
    }
}

/// `gazette serve` as its own process, on free ports, with the list
/// `pm@lists.example.org`; killed when dropped (its log shown if the test
/// failed).
pub struct Served {
    child: std::process::Child,
    pub http: SocketAddr,
    pub smtp: SocketAddr,
    log: std::path::PathBuf,
    env: Vec<(String, String)>,
    _db: TestDb,
    dir: tempfile::TempDir,
}

impl Served {
    /// Starts it, with both the soft and hard open-file limits set to
    /// `open_files` when given (serve raises soft to hard, so both).
    pub async fn start(open_files: Option<u64>, extra: &[(&str, &str)]) -> Served {
        let db = sqlite_db();
        let dir = tempfile::tempdir().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let smtp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("GAZETTE_CONFIG".into(), "/dev/null".into()),
            ("GAZETTE_DATABASE_URL".into(), db.url.clone()),
            (
                "GAZETTE_SMTP_URL".into(),
                format!("file://{}", dir.path().join("outbox").display()),
            ),
            ("GAZETTE_HTTP_ADDR".into(), http.to_string()),
            ("GAZETTE_INBOUND_ADDR".into(), smtp.to_string()),
            ("GAZETTE_HOSTNAME".into(), "gazette.test".into()),
            ("GAZETTE_LOG".into(), "info".into()),
        ];
        for (k, v) in extra {
            env.retain(|(n, _)| n != k);
            env.push((k.to_string(), v.to_string()));
        }
        let args = [
            "list",
            "create",
            crate::common::LIST_ADDRESS,
            "--name",
            "PM Circle",
        ];
        gazette_cmd(&env, &args, None);
        let log = dir.path().join("serve.log");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gazette"));
        cmd.arg("serve")
            .envs(env.iter().cloned())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(limit) = open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit, which is async-signal-safe, runs
            // between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: limit as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("gazette serve starts");
        let served = Served {
            child,
            http,
            smtp,
            log,
            env,
            _db: db,
            dir,
        };
        let url = served.url("/healthz");
        wait_for(30, "gazette serve to answer /healthz", || async {
            let up = TcpStream::connect(http).await.is_ok();
            (up && http_get("GET", &url, "").await.0 == 200).then_some(())
        })
        .await;
        served
    }

    /// Its settings, to run other `gazette` commands on the same data.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Where its outgoing mail is written.
    pub fn outbox(&self) -> std::path::PathBuf {
        self.dir.path().join("outbox")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `kB` field of /proc/PID/status (VmRSS, VmHWM).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    /// How many descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gazette serve log ---\n{}", self.log());
        }
    }
}
