//! `gazette inspect [FILE]`: how gazette understands one message, printed
//! as JSON, with no database, list or configuration file, so an operator
//! can ask about any message anywhere. `gazette inbound show --explain`
//! prints the same for a stored message.

use super::InspectArgs;
use crate::inbound::explain::explain;
use std::io::{Read, Write};

/// sysexits(3): the input file could not be read; stdout could not be written.
const EX_NOINPUT: i32 = 66;
const EX_IOERR: i32 = 74;

/// Runs `gazette inspect`; returns the exit code. Any bytes at all give a
/// JSON answer and exit 0: only failing to read or write is an error.
pub fn inspect(args: &InspectArgs) -> i32 {
    let (name, raw) = match &args.file {
        Some(path) => (path.display().to_string(), std::fs::read(path)),
        None => {
            let mut raw = Vec::new();
            let read = std::io::stdin().read_to_end(&mut raw).map(|_| raw);
            ("stdin".to_string(), read)
        }
    };
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("gazette inspect: cannot read {name}: {e}");
            return EX_NOINPUT;
        }
    };
    let sender = args
        .sender
        .as_deref()
        .map(|s| s.trim().trim_matches(['<', '>']).trim());
    print_json(&explain(&raw, sender))
}

/// Prints `value` as pretty JSON on stdout; returns the exit code.
pub(super) fn print_json(value: &impl serde::Serialize) -> i32 {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|_| writeln!(out))
        .and_then(|_| out.flush());
    match written {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("gazette inspect: cannot write the answer: {e}");
            EX_IOERR
        }
    }
}
