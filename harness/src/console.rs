//! What the harness prints on its standard output and standard error.
//!
//! `println!` panics when the stream is closed (`harness plan f.toml | head -1`): these write and carry on,
//! so that a reader who stopped reading ends nothing but the output. A run whose console is gone still
//! measures, writes its results and exits with its own code.
//!
//! Much of what the harness prints comes from others: what programs, libraries, servers and hooks printed,
//! in errors. None of it reaches the terminal raw: every control character but a line break and a tab is
//! written escaped (`\u{1b}`), so no output can set the terminal's title, move its cursor or clear it.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

/// `text` with every control character but `\n` and `\t` escaped as Rust writes it (`\u{1b}`, `\r`).
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    let raw = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(raw) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Writes `args` to `stream`, control characters escaped; a closed or failing stream is ignored.
fn write_escaped(mut stream: impl Write, args: fmt::Arguments<'_>) {
    let text = args.as_str().map_or_else(|| Cow::Owned(args.to_string()), Cow::Borrowed);
    let _ = stream.write_all(escape_controls(&text).as_bytes());
}

/// Prints to standard output; a closed or failing stream is ignored.
pub(crate) fn write_out(args: fmt::Arguments<'_>) {
    write_escaped(std::io::stdout().lock(), args);
}

/// Prints to standard error; a closed or failing stream is ignored.
pub(crate) fn write_err(args: fmt::Arguments<'_>) {
    write_escaped(std::io::stderr().lock(), args);
}

/// `println!` that never panics.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};

/// The harness as the user invoked it, for commands the harness suggests: `target/release/harness` when
/// run from the build folder, `harness` when found on the `PATH`.
pub(crate) fn invoked_as() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .filter(|program| program.components().count() > 1)
        .map_or_else(|| "harness".to_owned(), |program| program.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_but_line_breaks_and_tabs_are_escaped() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            escape_controls("\u{1b}]0;title\u{7}\u{1b}[2J\r\u{9b}"),
            "\\u{1b}]0;title\\u{7}\\u{1b}[2J\\r\\u{9b}"
        );
    }
}
