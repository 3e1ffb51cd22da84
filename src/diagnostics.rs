//! Messages to stderr, each written whole: one `write` per message, so a
//! line from scxpack is never cut by another process writing to the same
//! stream (a journal, a shared terminal, a parallel job's log).
//! `eprintln!` writes each piece of its format separately.

use std::fmt;
use std::io::{self, Write};

/// Writes `args` and a newline to `out` with a single `write_all`.
///
/// # Errors
/// What writing to `out` returns.
pub fn line_to(out: &mut impl Write, args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut text = fmt::format(args);
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// Writes `args` and a newline to stderr in one piece. A failure to write
/// there is ignored (where `eprintln!` would panic): a message about a
/// problem must not become a crash of its own.
pub fn line(args: fmt::Arguments<'_>) {
    let _ = line_to(&mut io::stderr().lock(), args);
}

/// `eprintln!`, written whole ([`line()`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::diagnostics::line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call it receives, taking all of each.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_message_with_arguments_is_handed_over_in_one_write() {
        let mut w = Writes::default();
        let detail = "  v2: needs scx_bpf_now\n  v1: no cgroup ops";
        line_to(
            &mut w,
            format_args!("scxpack: error: {}:\n{detail}", "fifo"),
        )
        .unwrap();
        // `writeln!` on the same writer makes one call per piece of the
        // format ("scxpack: error: ", "fifo", ":\n", ...).
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
        assert_eq!(
            String::from_utf8(w.0.concat()).unwrap(),
            "scxpack: error: fifo:\n  v2: needs scx_bpf_now\n  v1: no cgroup ops\n"
        );
    }

    #[test]
    fn writeln_would_not_be() {
        let mut w = Writes::default();
        let name = String::from("fifo");
        writeln!(w, "scxpack: error: {name}").unwrap();
        assert!(w.0.len() > 1, "the case the helper exists for: {:?}", w.0);
    }
}
