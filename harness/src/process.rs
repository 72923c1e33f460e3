//! How the harness describes processes: how one ended, a signal's name, the tail of what it printed (the
//! SDK's words, so that a run's programs and the harness's hooks are described alike).

pub(crate) use harness_sdk::exec::{describe_exit, last_lines, signal_name};

/// The most of a run's output the harness reads back: the end of its log.
pub(crate) const LOG_TAIL_BYTES: u64 = 64 * 1024;
/// The longest error message kept for a run (in `runs.csv` and on the console).
pub(crate) const MAX_ERROR_CHARS: usize = 2000;

/// The last `max` bytes of the file at `path` (the whole file when shorter), as text; empty when it cannot
/// be read. However much a run printed, only this much of it is ever held in memory.
pub(crate) fn tail_of_file(path: &std::path::Path, max: u64) -> String {
    tail_of_file_after(path, 0, max)
}

/// [`tail_of_file`] of what the file holds after its first `start` bytes: what a program appended to a log.
pub(crate) fn tail_of_file_after(path: &std::path::Path, start: u64, max: u64) -> String {
    use std::io::{Read as _, Seek as _};
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let length = file.metadata().map_or(0, |m| m.len());
    if file.seek(std::io::SeekFrom::Start(length.saturating_sub(max).max(start))).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(max).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `text` cut to about `max` characters: its start (what happened) and its end (where a crash says its
/// last words), with a note of how much was left out between them.
pub(crate) fn cap_message(text: String, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(count - max / 2).collect();
    format!("{head}... [{} characters left out] ...{tail}", count - 2 * (max / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tail_of_a_long_log_is_read_and_messages_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("output.log");
        // Far more than the tail: the lines before it are never read.
        let mut text = "x".repeat(1 << 20);
        text.push_str("\nthe end\n");
        std::fs::write(&log, &text).unwrap();
        let tail = tail_of_file(&log, 100);
        assert_eq!(tail.len(), 100);
        assert!(tail.ends_with("x\nthe end\n"));
        assert_eq!(tail_of_file(&dir.path().join("absent"), 100), "");
        assert_eq!(cap_message("short".to_owned(), 10), "short");
        assert_eq!(cap_message("abcdefghijkl".to_owned(), 4), "ab... [8 characters left out] ...kl");
    }
}
