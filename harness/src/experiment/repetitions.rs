//! `repetitions`: a count of measured runs per cell, or a range `{ min, max }` of rounds that the run walks
//! until every comparison of the file is decided (see `stats::sequential` for when it looks, and at what
//! confidence).

use std::ops::Range;

use toml::Spanned;

use super::resolve::MAX_COUNT;

/// The rounds of an experiment: every cell runs `min` of them, and up to `max` while a comparison is
/// undecided. A plain count is `min = max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repetitions {
    pub min: u32,
    pub max: u32,
}

impl Repetitions {
    pub(crate) const DEFAULT: Self = Self { min: 5, max: 5 };

    /// Whether the run stops on its data.
    pub(crate) fn is_range(self) -> bool {
        self.min < self.max
    }
}

/// A mistake in `repetitions`: its message, place, and what was expected.
pub(super) struct RepetitionsError {
    pub message: String,
    pub span: Range<usize>,
    pub expected: String,
    pub help: Option<String>,
}

const EXPECTED: &str = "an integer, or a range of rounds such as `{ min = 5, max = 60 }`";

/// Reads `repetitions` as written: an integer from 1, or `{ min, max }` with `1 <= min <= max`.
pub(super) fn parse(value: Option<&Spanned<toml::Value>>) -> Result<Repetitions, RepetitionsError> {
    let Some(value) = value else { return Ok(Repetitions::DEFAULT) };
    let span = value.span();
    let error =
        |message: String, expected: String| RepetitionsError { message, span: span.clone(), expected, help: None };
    let count = |key: &str, v: &toml::Value| match v {
        toml::Value::Integer(n) if (1..=i64::from(MAX_COUNT)).contains(n) => Ok(*n as u32),
        toml::Value::Integer(n) => Err(error(format!("`{key}` is {n}"), format!("an integer from 1 to {MAX_COUNT}"))),
        other => Err(error(format!("wrong type: found {}", found(other)), EXPECTED.to_owned())),
    };
    match value.get_ref() {
        toml::Value::Table(table) => {
            if let Some(key) = table.keys().find(|k| !["min", "max"].contains(&k.as_str())) {
                return Err(RepetitionsError {
                    help: crate::diagnostic::closest(key, ["min", "max"]).map(|c| format!("did you mean `{c}`?")),
                    ..error(format!("unknown key `{key}` in `repetitions`"), "`min` and `max`".to_owned())
                });
            }
            let (Some(min), Some(max)) = (table.get("min"), table.get("max")) else {
                return Err(RepetitionsError {
                    help: Some("a range says how few rounds to run and how many at most".to_owned()),
                    ..error("`repetitions` needs both `min` and `max`".to_owned(), EXPECTED.to_owned())
                });
            };
            let (min, max) = (count("repetitions.min", min)?, count("repetitions.max", max)?);
            if min > max {
                return Err(error(
                    format!("`repetitions` has `min` {min} above `max` {max}"),
                    "`min` at most `max`".to_owned(),
                ));
            }
            Ok(Repetitions { min, max })
        }
        other => {
            let n = count("repetitions", other)?;
            Ok(Repetitions { min: n, max: n })
        }
    }
}

/// How a wrong value reads in a message: its type and, for a scalar, the value.
fn found(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("string {s:?}"),
        toml::Value::Float(x) => format!("floating point `{x}`"),
        toml::Value::Boolean(b) => format!("boolean `{b}`"),
        toml::Value::Array(_) => "a list".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
        toml::Value::Integer(i) => format!("integer `{i}`"),
        toml::Value::Datetime(d) => format!("datetime `{d}`"),
    }
}

/// The repetitions of an experiment file's text, as kept in a result folder; the default when absent or
/// not readable.
pub(crate) fn of_source(source: &str) -> Repetitions {
    let file: Result<super::raw::CiOnly, _> = toml::from_str(source);
    file.ok()
        .and_then(|f| f.experiment)
        .and_then(|e| parse(e.repetitions.as_ref()).ok())
        .unwrap_or(Repetitions::DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Repetitions, String> {
        #[derive(serde::Deserialize)]
        struct File {
            repetitions: Spanned<toml::Value>,
        }
        let file: File = toml::from_str(text).unwrap();
        parse(Some(&file.repetitions)).map_err(|e| format!("{}; expected {}", e.message, e.expected))
    }

    #[test]
    fn a_count_or_a_range() {
        assert_eq!(parsed("repetitions = 7"), Ok(Repetitions { min: 7, max: 7 }));
        assert_eq!(parsed("repetitions = { min = 5, max = 60 }"), Ok(Repetitions { min: 5, max: 60 }));
        assert!(parsed("repetitions = { min = 5, max = 60 }").unwrap().is_range());
        assert!(!parsed("repetitions = { min = 5, max = 5 }").unwrap().is_range());
        assert_eq!(parse(None).ok(), Some(Repetitions::DEFAULT));
    }

    #[test]
    fn mistakes_say_what_was_expected() {
        assert!(parsed("repetitions = 0").unwrap_err().starts_with("`repetitions` is 0"));
        assert!(parsed("repetitions = \"five\"").unwrap_err().starts_with("wrong type: found string \"five\""));
        assert!(parsed("repetitions = { min = 9, max = 6 }").unwrap_err().contains("`min` 9 above `max` 6"));
        assert!(parsed("repetitions = { min = 5 }").unwrap_err().contains("needs both `min` and `max`"));
        assert!(parsed("repetitions = { min = 5, mx = 6 }").unwrap_err().contains("unknown key `mx`"));
        assert!(parsed("repetitions = { min = 0, max = 6 }").unwrap_err().starts_with("`repetitions.min` is 0"));
    }

    #[test]
    fn a_result_folder_keeps_its_range() {
        let source = "[experiment]\nname = \"x\"\nrepetitions = { min = 3, max = 9 }\n";
        assert_eq!(of_source(source), Repetitions { min: 3, max: 9 });
        assert_eq!(of_source("[experiment]\nname = \"x\"\n"), Repetitions::DEFAULT);
    }
}
