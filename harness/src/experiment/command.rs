//! A command to start, as an experiment file writes it: a list is a program and its arguments, run without
//! a shell; a string is a shell command, run with `sh -c`. With the `env` it gets and the folder it runs
//! in (`cwd`, relative to the experiment file).

use std::path::{Path, PathBuf};

/// A command, ready to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
    /// Added to the harness's own environment.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// A message and what was expected instead.
pub(super) type Problem = (String, String);

/// Makes a string of the file final: substitutes its references, or says why it cannot.
pub(super) type Text<'a> = dyn Fn(&str) -> Result<String, Problem> + 'a;

/// What a command looks like, for messages.
pub(super) const COMMAND_EXPECTED: &str =
    "a list of a program and its arguments (run without a shell), or a string (run with `sh -c`)";

/// Parses a command written as a list or a string, after `text` has made each string final (substituted
/// its references, or said why it cannot). `base` is the experiment file's folder, against which a
/// relative `cwd` is taken.
pub(super) fn parse_command(
    command: &toml::Value,
    env: &[(String, String)],
    cwd: Option<&str>,
    base: &Path,
    text: &Text<'_>,
) -> Result<CommandLine, Problem> {
    let expected = || COMMAND_EXPECTED.to_owned();
    let (program, args) = match command {
        toml::Value::String(line) if !line.trim().is_empty() => ("sh".to_owned(), vec!["-c".to_owned(), text(line)?]),
        toml::Value::Array(items) if !items.is_empty() => {
            let mut words = Vec::with_capacity(items.len());
            for item in items {
                let toml::Value::String(word) = item else {
                    return Err((format!("`command` holds {item}, which is not a string"), expected()));
                };
                words.push(text(word)?);
            }
            let program = words.remove(0);
            if program.is_empty() {
                return Err(("`command` names an empty program".to_owned(), expected()));
            }
            (program, words)
        }
        other => return Err((format!("`command` is {other}"), expected())),
    };
    let mut substituted = Vec::with_capacity(env.len());
    for (key, value) in env {
        substituted.push((key.clone(), text(value)?));
    }
    let cwd = match cwd {
        None => base.to_owned(),
        Some(dir) => base.join(text(dir)?),
    };
    Ok(CommandLine { program, args, env: substituted, cwd })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<CommandLine, (String, String)> {
        let value: toml::Table = toml::from_str(&format!("c = {value}")).unwrap();
        let upper = |s: &str| {
            if s.contains('!') { Err((format!("{s} is refused"), String::new())) } else { Ok(s.to_uppercase()) }
        };
        parse_command(&value["c"], &[("K".into(), "v".into())], Some("sub"), Path::new("/exp"), &upper)
    }

    #[test]
    fn lists_run_without_a_shell_and_strings_with_one() {
        let list = parse(r#"["python3", "-m", "x"]"#).unwrap();
        assert_eq!(
            (list.program.as_str(), list.args.as_slice()),
            ("PYTHON3", ["-M".to_owned(), "X".to_owned()].as_slice())
        );
        assert_eq!(list.env, [("K".to_owned(), "V".to_owned())]);
        assert_eq!(list.cwd, Path::new("/exp/SUB"));
        let line = parse(r#""echo hi; exec x""#).unwrap();
        assert_eq!(
            (line.program.as_str(), line.args.as_slice()),
            ("sh", ["-c".to_owned(), "ECHO HI; EXEC X".to_owned()].as_slice())
        );
    }

    #[test]
    fn empty_and_mistyped_commands_are_refused() {
        for bad in ["[]", "\"\"", "3", "[\"a\", 1]", "[\"\"]"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse(r#"["a!"]"#).unwrap_err().0, "a! is refused");
    }
}
