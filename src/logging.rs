//! The log: tracing's plain text format, with every field value (span
//! fields too) passed through [`crate::redact::safe`], so no log line holds
//! a whole token and text from mail cannot add lines or escape sequences.

use std::fmt;
use tracing_subscriber::field::{MakeExt, RecordFields};
use tracing_subscriber::fmt::format::{debug_fn, Writer};
use tracing_subscriber::fmt::FormatFields;

/// Starts logging to stderr at `filter` (a `GAZETTE_LOG` directive).
pub fn init(filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .fmt_fields(fields())
        .init();
}

/// The field formatter: `name=value`, space-separated, the message bare,
/// each value made safe.
pub fn fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    SafeFields
}

struct SafeFields;

impl<'w> FormatFields<'w> for SafeFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let inner = debug_fn(
            |w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn fmt::Debug| {
                let shown = crate::redact::safe(&format!("{value:?}"));
                match field.name() {
                    "message" => write!(w, "{shown}"),
                    name => write!(w, "{name}={shown}"),
                }
            },
        )
        .delimited(" ");
        inner.format_fields(writer, fields)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_hold_no_token_and_no_control_character() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .fmt_fields(super::fields())
            .finish();
        let token = "abcdefghijklmnopqrstuvwxyz";
        tracing::subscriber::with_default(subscriber, || {
            let rcpt = format!("pm+reply-{token}@lists.example.org");
            let span = tracing::info_span!("inbound", rcpt = %rcpt);
            let _in = span.enter();
            tracing::info!(from = %"evil\r\nINFO forged: yes", "message for {rcpt}");
            tracing::warn!(url = %format!("http://h/confirm/{token}"), "link");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("pm+reply-abcd…@lists.example.org"), "{text}");
        assert!(text.contains("/confirm/abcd…"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("evil\\r\\nINFO forged: yes"), "{text}");
    }
}
