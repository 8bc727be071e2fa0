//! The DATA body decoder: finds the terminating `.` line, undoes
//! dot-stuffing, and enforces the size limit without buffering past it.
//!
//! Lines may end in CRLF or a bare LF and are kept exactly as received.
//! Which terminator ends the message depends on the client: one that sends
//! its commands with CRLF (every real MTA) ends the message only with
//! `CRLF.CRLF`, and any `LF.LF`, `LF.CRLF` or `CRLF.LF` is content, because
//! the upstream MTA would not have ended the message there either; treating
//! it as the end is how "SMTP smuggling" slips a second, forged message in.
//! A client that speaks bare LF (a person with netcat) may end with `LF.LF`,
//! but still not with a mixed terminator.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    LineStart,
    /// Saw `.` at the start of a line.
    Dot,
    /// Saw `.\r` at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
}

pub(super) struct DotDecoder {
    state: State,
    data: Vec<u8>,
    limit: usize,
    too_big: bool,
    /// How the previous line ended: `Some(true)` CRLF, `Some(false)` bare LF,
    /// `None` at the start of the body (either terminator is fine).
    crlf: Option<bool>,
    /// The last byte of content, to tell CRLF from LF across reads.
    last: u8,
    /// Only `CRLF.CRLF` ends the message.
    strict: bool,
}

impl DotDecoder {
    /// `strict` for a client that sends CRLF: only `CRLF.CRLF` ends the body.
    pub(super) fn new(limit: usize, strict: bool) -> DotDecoder {
        DotDecoder {
            state: State::LineStart,
            data: Vec::new(),
            limit,
            too_big: false,
            crlf: None,
            last: 0,
            strict,
        }
    }

    /// Decodes from `input`. Returns how many bytes were used and whether the
    /// terminator was seen; bytes after it are left alone, as they are the
    /// next pipelined command.
    pub(super) fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Mid => {
                    let rest = &input[i..];
                    match rest.iter().position(|&c| c == b'\n') {
                        Some(p) => {
                            let before = if p > 0 { rest[p - 1] } else { self.last };
                            self.crlf = Some(before == b'\r');
                            self.push(&rest[..=p]);
                            self.state = State::LineStart;
                            i += p + 1;
                        }
                        None => {
                            self.push(rest);
                            i = input.len();
                        }
                    }
                    continue;
                }
                State::LineStart if b == b'.' => self.state = State::Dot,
                State::LineStart if b == b'\n' => {
                    self.crlf = Some(false);
                    self.push(b"\n");
                }
                State::LineStart => {
                    self.push(&[b]);
                    self.state = State::Mid;
                }
                State::Dot if b == b'\r' => self.state = State::DotCr,
                State::Dot if b == b'\n' => {
                    if !self.strict && self.crlf != Some(true) {
                        return (i + 1, true);
                    }
                    self.lone_dot(b".\n", false);
                }
                State::Dot => {
                    // A stuffed dot: drop it, keep the rest of the line.
                    self.push(&[b]);
                    self.state = State::Mid;
                }
                State::DotCr if b == b'\n' => {
                    if self.crlf != Some(false) {
                        return (i + 1, true);
                    }
                    self.lone_dot(b".\r\n", true);
                }
                State::DotCr => {
                    // `.\r` then more text: a stuffed dot before a bare CR.
                    // Keep the CR and look at this byte again mid-line.
                    self.push(b"\r");
                    self.state = State::Mid;
                    continue;
                }
            }
            i += 1;
        }
        (input.len(), false)
    }

    /// A line of just `.` that is not the terminator (see the module doc).
    fn lone_dot(&mut self, line: &[u8], crlf: bool) {
        self.push(line);
        self.crlf = Some(crlf);
        self.state = State::LineStart;
    }

    fn push(&mut self, bytes: &[u8]) {
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
        if self.too_big {
            return;
        }
        if self.data.len() + bytes.len() > self.limit {
            self.too_big = true;
            self.data = Vec::new();
        } else {
            self.data.extend_from_slice(bytes);
        }
    }

    /// The message, or `None` if it was over the limit.
    pub(super) fn finish(self) -> Option<Vec<u8>> {
        (!self.too_big).then_some(self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::DotDecoder;

    /// Decodes `input` whole and byte by byte; both must agree.
    fn decode(input: &[u8], limit: usize) -> (Option<Vec<u8>>, usize) {
        // As the session decides: a client that sends CR at all speaks CRLF.
        decode_with(input, limit, input.contains(&b'\r'))
    }

    fn decode_with(input: &[u8], limit: usize, strict: bool) -> (Option<Vec<u8>>, usize) {
        let mut whole = DotDecoder::new(limit, strict);
        let (used, done) = whole.feed(input);
        assert!(
            done,
            "no terminator in {:?}",
            String::from_utf8_lossy(input)
        );
        let mut split = DotDecoder::new(limit, strict);
        let mut used_split = 0;
        for chunk in input.chunks(1) {
            let (n, done) = split.feed(chunk);
            used_split += n;
            if done {
                break;
            }
        }
        let whole = whole.finish();
        assert_eq!(whole, split.finish());
        assert_eq!(used, used_split);
        (whole, used)
    }

    #[test]
    fn unstuffs_and_keeps_line_endings() {
        let (data, used) = decode(b"a\r\n..b\r\n...\r\n.c\r\n\r\n.\r\nQUIT\r\n", 100);
        assert_eq!(data.unwrap(), b"a\r\n.b\r\n..\r\nc\r\n\r\n");
        assert_eq!(used, b"a\r\n..b\r\n...\r\n.c\r\n\r\n.\r\n".len());
    }

    #[test]
    fn bare_lf_lines_and_terminator() {
        let (data, _) = decode(b"a\n..b\n\nc\n.\n", 100);
        assert_eq!(data.unwrap(), b"a\n.b\n\nc\n");
    }

    #[test]
    fn empty_body() {
        assert_eq!(decode(b".\r\n", 100).0.unwrap(), b"");
        assert_eq!(decode(b".\n", 100).0.unwrap(), b"");
    }

    #[test]
    fn mixed_terminators_are_content() {
        let (data, _) = decode(b"a\r\n.\nb\n.\r\nc\r\n.\r\n", 100);
        assert_eq!(data.unwrap(), b"a\r\n.\nb\n.\r\nc\r\n");
    }

    #[test]
    fn crlf_clients_end_only_with_crlf_dot_crlf() {
        // The smuggling shape: a bare-LF line, then LF.LF, then a forged
        // second transaction, then the real end.
        let input = b"hi\n.\nMAIL FROM:<bob@x.org>\r\nDATA\r\nbye\n.\n\r\n.\r\n";
        let (data, used) = decode_with(input, 1000, true);
        assert_eq!(used, input.len());
        assert_eq!(
            data.unwrap(),
            b"hi\n.\nMAIL FROM:<bob@x.org>\r\nDATA\r\nbye\n.\n\r\n"
        );
        // A bare-LF client may end with LF.LF.
        assert_eq!(decode_with(b"a\nb\n.\n", 100, false).0.unwrap(), b"a\nb\n");
    }

    /// Random bodies of dots, CRs, LFs and text, fed in random chunks:
    /// never a panic, and chunking never changes where the message ends
    /// or what it holds.
    #[test]
    fn fuzz_chunking_never_changes_the_result() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces: [&[u8]; 7] = [b".", b"\r", b"\n", b"\r\n", b"ab", b"..", b"\r\n.\r\n"];
        for round in 0..3000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .flat_map(|_| {
                    pieces[(next() % pieces.len() as u64) as usize]
                        .iter()
                        .copied()
                })
                .collect();
            let strict = round % 2 == 0;
            let mut whole = DotDecoder::new(64, strict);
            let (used, done) = whole.feed(&input);
            let mut split = DotDecoder::new(64, strict);
            let (mut at, mut split_done) = (0, false);
            while at < input.len() && !split_done {
                let step = 1 + (next() % 7) as usize;
                let end = (at + step).min(input.len());
                let (n, d) = split.feed(&input[at..end]);
                at += n;
                split_done = d;
            }
            assert_eq!(done, split_done, "{input:?}");
            if done {
                assert_eq!(used, at, "{input:?}");
                assert_eq!(whole.finish(), split.finish(), "{input:?}");
            }
        }
    }

    #[test]
    fn bare_cr_after_stuffed_dot() {
        let (data, _) = decode(b"..\rx\r\n.\r\n", 100);
        assert_eq!(data.unwrap(), b".\rx\r\n");
        let (data, _) = decode(b".\rx\r\n.\r\n", 100);
        assert_eq!(data.unwrap(), b"\rx\r\n");
    }

    #[test]
    fn over_the_limit_is_read_to_the_end_then_refused() {
        let mut body = b"x".repeat(50);
        body.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
        let (data, used) = decode(&body, 10);
        assert_eq!(data, None);
        assert_eq!(used, body.len() - b"NOOP\r\n".len());
        // Exactly at the limit is fine.
        assert_eq!(decode(b"12345678\r\n.\r\n", 10).0.unwrap(), b"12345678\r\n");
        assert_eq!(decode(b"123456789\r\n.\r\n", 10).0, None);
    }
}
