//! Errors in a user's input, shown with the file, line and column, the offending source line, what was
//! expected and a hint.
//!
//! ```text
//! error: unknown key `repetiton` in [experiment]
//!   --> experiments/bad.toml:4:1
//!    |
//!  4 | repetiton = 5
//!    | ^^^^^^^^^
//!    = expected: one of `name`, `description`, `repetitions`, ...
//!    = help: did you mean `repetitions`?
//! ```

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An error in an input file. Rendered by its `Display`; the CLI exits with code 2 on it.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub file: Option<PathBuf>,
    /// Byte range into `source`, when the error has a place.
    pub span: Option<Range<usize>>,
    pub source: Option<Arc<str>>,
    pub expected: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), file: None, span: None, source: None, expected: None, help: None }
    }

    /// Places the error in `file` (whose text is `source`) at `span`.
    pub fn at(mut self, file: &Path, source: &Arc<str>, span: Option<Range<usize>>) -> Self {
        self.file = Some(file.to_owned());
        self.source = Some(Arc::clone(source));
        self.span = span;
        self
    }

    /// Names the file without a place in it.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_owned());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean" for the candidate closest to `word`, when one is close enough.
    pub fn did_you_mean<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match closest(word, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// 1-based line and column of the start of the span.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        let (source, span) = (self.source.as_deref()?, self.span.as_ref()?);
        Some(line_column(source, span.start))
    }
}

/// The candidate most like `word`, if any is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The longest source line shown whole; a longer one is cut to a window around the error.
const SHOWN_LINE: usize = 120;

/// The part of `line` to show for an error at character `column` (from 0) spanning `carets` characters:
/// the text, the padding before the carets, and the number of carets.
fn excerpt(line: &str, column: usize, carets: usize) -> (String, usize, usize) {
    let length = line.chars().count();
    if length <= SHOWN_LINE {
        return (line.to_owned(), column, carets);
    }
    let start = column.saturating_sub(SHOWN_LINE / 3).min(length.saturating_sub(SHOWN_LINE));
    let end = (start + SHOWN_LINE).min(length);
    let mut shown: String = line.chars().skip(start).take(end - start).collect();
    let mut pad = column - start;
    if start > 0 {
        shown.insert_str(0, "...");
        pad += 3;
    }
    if end < length {
        shown.push_str("...");
    }
    (shown, pad, carets.min(end.saturating_sub(column)).max(1))
}

/// The largest character boundary of `source` at or before `offset`.
fn floor_char_boundary(source: &str, offset: usize) -> usize {
    (0..=offset.min(source.len())).rev().find(|&i| source.is_char_boundary(i)).unwrap_or(0)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        let place = self.line_column();
        if let Some(file) = &self.file {
            match place {
                Some((line, column)) => write!(f, "\n  --> {}:{line}:{column}", file.display())?,
                None => write!(f, "\n  --> {}", file.display())?,
            }
        }
        if let (Some(source), Some(span), Some((line, column))) = (self.source.as_deref(), &self.span, place) {
            // The line is found from the offset itself, not by counting lines, so that `\r\n` endings and
            // offsets past the end (an error at the end of the file) stay inside the text.
            let start = floor_char_boundary(source, span.start.min(source.len()));
            let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = source[line_start..].find('\n').map_or(source.len(), |i| line_start + i);
            let text = source[line_start..line_end].strip_suffix('\r').unwrap_or(&source[line_start..line_end]);
            let line_end = line_start + text.len();
            let end = floor_char_boundary(source, span.end.clamp(start, line_end.max(start)));
            let marked = source.get(start.min(line_end)..end.max(start.min(line_end))).unwrap_or("");
            let (shown, pad, carets) = excerpt(text, column - 1, marked.chars().count().max(1));
            let width = line.to_string().len();
            // Padding is written out rather than with a format width, which is limited to 65,535.
            write!(f, "\n{} |", " ".repeat(width))?;
            write!(f, "\n{line:>width$} | {shown}")?;
            write!(f, "\n{} | {}{}", " ".repeat(width), " ".repeat(pad), "^".repeat(carets))?;
        }
        let indent = match place {
            Some((line, _)) if self.source.is_some() => " ".repeat(line.to_string().len() + 1),
            _ if self.file.is_some() => "   ".to_owned(),
            _ => String::new(),
        };
        if let Some(expected) = &self.expected {
            write!(f, "\n{indent}= expected: {expected}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n{indent}= help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("a\nbcd\n", 3), (2, 2));
        assert_eq!(line_column("abc", 0), (1, 1));
    }

    #[test]
    fn renders_the_source_line_with_carets() {
        let source: Arc<str> = Arc::from("[experiment]\nrepetiton = 5\n");
        let d = Diagnostic::new("unknown key `repetiton`")
            .at(Path::new("x.toml"), &source, Some(13..22))
            .did_you_mean("repetiton", ["repetitions", "warmup"]);
        let text = d.to_string();
        assert!(text.contains("--> x.toml:2:1"), "{text}");
        assert!(text.contains("2 | repetiton = 5"), "{text}");
        assert!(text.contains("  | ^^^^^^^^^\n"), "{text}");
        assert!(text.contains("did you mean `repetitions`?"), "{text}");
    }

    #[test]
    fn windows_line_endings_render_the_line_without_its_carriage_return() {
        let source: Arc<str> = Arc::from("[experiment]\r\nrepetiton = 5\r\nwarmup = 1\r\n");
        let d = Diagnostic::new("unknown key").at(Path::new("x.toml"), &source, Some(14..23));
        let text = d.to_string();
        assert!(text.contains("--> x.toml:2:1"), "{text}");
        assert!(text.contains("2 | repetiton = 5\n  | ^^^^^^^^^"), "{text:?}");
    }

    #[test]
    fn a_span_past_the_end_or_inside_a_character_renders() {
        let source: Arc<str> = Arc::from("a = \"é\"\r\n");
        // 6..5 is a span whose end is before its start.
        for (start, end) in [(0, 100), (5, 6), (6, 5), (100, 200), (9, 9)] {
            let span = Some(start..end);
            let text = Diagnostic::new("x").at(Path::new("x.toml"), &source, span.clone()).to_string();
            assert!(text.contains("--> x.toml:"), "{span:?}: {text}");
        }
    }

    #[test]
    fn a_long_line_is_cut_around_the_error() {
        let line = format!("{}bad = 1", "x".repeat(70_000));
        let source: Arc<str> = Arc::from(line.as_str());
        let text = Diagnostic::new("x").at(Path::new("x.toml"), &source, Some(70_000..70_003)).to_string();
        assert!(text.contains("--> x.toml:1:70001"), "{text}");
        let shown = text.lines().find(|l| l.starts_with("1 | ")).unwrap();
        let carets = text.lines().find(|l| l.contains('^')).unwrap();
        assert!(shown.len() < 200, "{shown}");
        assert_eq!(&shown[carets.find('^').unwrap()..][..3], "bad", "{text}");
    }
}
