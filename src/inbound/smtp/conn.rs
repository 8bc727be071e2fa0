//! One session's connection: buffered reads with a timeout and the
//! shutdown signal applied to every wait (the short command timeout between
//! commands, the longer data timeout only while a DATA body streams), and replies batched until the
//! client has been answered everything it pipelined (RFC 2920).
//!
//! All reads go through one `BufReader`, so bytes a pipelining client sent
//! ahead (the next commands, or a body sent without waiting for 354) are
//! never lost between command parsing and DATA.

use super::body::DotDecoder;
use super::{Reply, SHUTDOWN_GRACE};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// The longest a DATA body may take to arrive.
const BODY_TIME: Duration = Duration::from_secs(600);

/// Why a session ended.
#[derive(Debug)]
pub(super) enum End {
    Quit,
    Closed,
    Idle,
    Shutdown,
    TooManyErrors,
    Io(io::Error),
}

pub(super) enum Line {
    /// One line, with its line ending.
    Text(Vec<u8>),
    /// Over the limit; the whole line was read and dropped.
    TooLong,
    Eof,
}

pub(super) struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    out: Vec<u8>,
    /// Longest wait for a command line, or for the client to take a reply.
    command_timeout: Duration,
    /// Longest wait for the next piece of a DATA body.
    data_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    /// When this session first saw the shutdown signal.
    draining_since: Option<Instant>,
}

impl Conn {
    pub(super) fn new(
        stream: TcpStream,
        command_timeout: Duration,
        data_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Conn {
        let (read, write) = stream.into_split();
        Conn {
            reader: BufReader::new(read),
            writer: write,
            out: Vec::new(),
            command_timeout,
            data_timeout,
            shutdown,
            draining_since: None,
        }
    }

    /// Queues a reply; it is sent before the next wait for input.
    pub(super) fn reply(&mut self, reply: &Reply) {
        reply.write_to(&mut self.out);
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = self.writer.write_all(&self.out);
        match tokio::time::timeout(self.command_timeout, write).await {
            Ok(Ok(())) => {
                self.out.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Idle),
        }
    }

    /// Whether the server is shutting down (a dropped sender counts).
    pub(super) fn shutting_down(&mut self) -> bool {
        if self.draining_since.is_none()
            && (*self.shutdown.borrow() || self.shutdown.has_changed().is_err())
        {
            self.draining_since = Some(Instant::now());
        }
        self.draining_since.is_some()
    }

    /// Sends `last` (if any) and whatever is queued, then closes. Bounded,
    /// since a client that stopped reading must not hold up shutdown.
    pub(super) async fn close(mut self, last: Option<Reply>) {
        if let Some(reply) = last {
            self.reply(&reply);
        }
        let out = std::mem::take(&mut self.out);
        let send = async {
            self.writer.write_all(&out).await?;
            self.writer.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), send).await;
    }

    /// Waits until input is buffered and returns how much; 0 at end of input.
    /// `idle` is the longest wait for the next byte; `by` is when the whole
    /// line or body must have arrived: a client that
    /// trickles one byte at a time cannot hold a slot past it. On shutdown,
    /// a session outside a transaction ends at once; inside one it gets
    /// [`SHUTDOWN_GRACE`] to finish.
    async fn fill(
        &mut self,
        in_transaction: bool,
        idle: Duration,
        by: Instant,
    ) -> Result<usize, End> {
        loop {
            let buffered = self.reader.buffer().len();
            if buffered > 0 {
                return Ok(buffered);
            }
            // About to wait on the client, which may be waiting on us.
            self.flush().await?;
            let idle_deadline = (Instant::now() + idle).min(by);
            let (deadline, grace_ends) = match self.draining_since {
                Some(since) if since + SHUTDOWN_GRACE < idle_deadline => {
                    (since + SHUTDOWN_GRACE, true)
                }
                _ => (idle_deadline, false),
            };
            let watch_shutdown = self.draining_since.is_none();
            let read = tokio::select! {
                read = tokio::time::timeout_at(deadline, self.reader.fill_buf()) => match read {
                    Ok(Ok(buf)) => Some(Ok(buf.len())),
                    Ok(Err(e)) => Some(Err(End::Io(e))),
                    Err(_) if grace_ends => Some(Err(End::Shutdown)),
                    Err(_) => Some(Err(End::Idle)),
                },
                _ = self.shutdown.wait_for(|stop| *stop), if watch_shutdown => None,
            };
            match read {
                Some(result) => return result,
                None => {
                    self.draining_since = Some(Instant::now());
                    if !in_transaction {
                        return Err(End::Shutdown);
                    }
                }
            }
        }
    }

    /// Reads one line of at most `limit` bytes (line ending included) without
    /// ever buffering more than that.
    pub(super) async fn read_line(
        &mut self,
        limit: usize,
        in_transaction: bool,
    ) -> Result<Line, End> {
        let mut line = Vec::new();
        let mut too_long = false;
        let idle = self.command_timeout;
        let by = Instant::now() + idle;
        loop {
            if self.fill(in_transaction, idle, by).await? == 0 {
                return Ok(Line::Eof);
            }
            let buf = self.reader.buffer();
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if !too_long && line.len() + take > limit {
                too_long = true;
                line = Vec::new();
            }
            if !too_long {
                line.extend_from_slice(&buf[..take]);
            }
            self.reader.consume(take);
            if done {
                return Ok(if too_long {
                    Line::TooLong
                } else {
                    Line::Text(line)
                });
            }
        }
    }

    /// Reads a DATA body through `decoder`, up to and including the final `.`.
    pub(super) async fn read_body(&mut self, decoder: &mut DotDecoder) -> Result<(), End> {
        // RFC 5321 4.5.3.2 gives a whole message 10 minutes.
        let idle = self.data_timeout;
        let by = Instant::now() + idle.max(BODY_TIME);
        loop {
            if self.fill(true, idle, by).await? == 0 {
                return Err(End::Closed);
            }
            let (used, done) = decoder.feed(self.reader.buffer());
            self.reader.consume(used);
            if done {
                return Ok(());
            }
        }
    }
}
