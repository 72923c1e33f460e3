//! Programs in experiment files: the `exec` step and the hooks (`[experiment] setup` and `cleanup`, a
//! workload's `prepare` and `conclude`), which take the same three forms. An array is the program and its
//! arguments, run directly; a string is run with `sh -c`; a table has `command` (either) and `env`, `cwd`,
//! `stdin`, `output` and `ok`.
//!
//! At load the program is looked up (on `PATH` when its name has no `/`, else relative to its `cwd`), and
//! its `cwd` and `stdin` must exist, unless they hold `${task}` or `${worker}`, which only a run knows.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use harness_sdk::protocol::{Exec, Output, Step};

use super::plan::StepLibrary;
use super::quote_list;
use super::steps::StepError;
use super::substitute::references;

/// The variables a run substitutes in each task, not the harness at load: `${task}` and `${worker}`.
pub(crate) const RUNTIME_VARIABLES: &[&str] = &["task", "worker"];

/// The keys of the table form.
pub(super) const KEYS: &[&str] = &["command", "env", "cwd", "stdin", "output", "ok"];

/// Parses a program: `what` names it in messages (`exec`, `prepare`, ...).
pub(super) fn parse(what: &str, value: &toml::Value) -> Result<Exec, StepError> {
    let mut exec =
        Exec { argv: Vec::new(), env: Vec::new(), cwd: None, stdin: None, output: Output::Hash, ok: vec![0] };
    let command = match value {
        toml::Value::Table(table) => {
            for key in table.keys() {
                if !KEYS.contains(&key.as_str()) {
                    let hint = crate::diagnostic::closest(key, KEYS.iter().copied())
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    return Err((
                        format!("`{what}` has no key `{key}`{hint}"),
                        Some(format!("keys {}", quote_list(KEYS))),
                    ));
                }
            }
            if let Some(env) = table.get("env") {
                let env = env.as_table().ok_or_else(|| {
                    (
                        format!("`{what}.env` is {env}"),
                        Some("a table of strings, such as { LC_ALL = \"C\" }".to_owned()),
                    )
                })?;
                for (key, value) in env {
                    exec.env.push((key.clone(), word(&format!("{what}.env.{key}"), value)?));
                }
            }
            exec.cwd = table.get("cwd").map(|v| word(&format!("{what}.cwd"), v)).transpose()?;
            exec.stdin = table.get("stdin").map(|v| word(&format!("{what}.stdin"), v)).transpose()?;
            exec.output = match table.get("output") {
                None => Output::Hash,
                Some(toml::Value::String(s)) if s == "hash" => Output::Hash,
                Some(toml::Value::String(s)) if s == "ignore" => Output::Ignore,
                Some(other) => {
                    return Err((format!("`{what}.output` is {other}"), Some("\"hash\" or \"ignore\"".to_owned())));
                }
            };
            if let Some(ok) = table.get("ok") {
                let statuses = ok.as_array().filter(|a| !a.is_empty()).ok_or_else(|| ok_error(what, ok))?;
                exec.ok = statuses
                    .iter()
                    .map(|s| {
                        s.as_integer()
                            .filter(|n| (0..=255).contains(n))
                            .map(|n| n as i32)
                            .ok_or_else(|| ok_error(what, ok))
                    })
                    .collect::<Result<_, _>>()?;
            }
            table.get("command").ok_or_else(|| {
                (format!("`{what}` needs `command`"), Some("{ command = [\"gzip\", \"-c\", \"file\"] }".to_owned()))
            })?
        }
        other => other,
    };
    exec.argv = match command {
        toml::Value::String(script) => vec!["sh".to_owned(), "-c".to_owned(), script.clone()],
        toml::Value::Array(words) => {
            words.iter().map(|w| word(&format!("{what}.command"), w)).collect::<Result<_, _>>()?
        }
        other => {
            return Err((
                format!("`{what}` is {other}"),
                Some(
                    "a list of the program and its arguments, a string for `sh -c`, or a table with `command`"
                        .to_owned(),
                ),
            ));
        }
    };
    let empty = match exec.argv.as_slice() {
        [] => true,
        [program, ..] if program.trim().is_empty() => true,
        [sh, c, script] if sh == "sh" && c == "-c" => script.trim().is_empty(),
        _ => false,
    };
    if empty {
        return Err((
            format!("`{what}` has an empty command"),
            Some("a program to run, such as [\"true\"]".to_owned()),
        ));
    }
    Ok(exec)
}

fn ok_error(what: &str, value: &toml::Value) -> StepError {
    (format!("`{what}.ok` is {value}"), Some("a list of exit statuses from 0 to 255, such as [0, 1]".to_owned()))
}

/// A word of a command line: a string, or a number or boolean that an axis substituted whole.
fn word(key: &str, value: &toml::Value) -> Result<String, StepError> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err((format!("`{key}` is {other}"), Some("a string".to_owned()))),
    }
}

/// Whether `text` holds a `${...}` that only a run knows.
fn per_task(text: &str) -> bool {
    references(text).iter().any(|(_, name)| RUNTIME_VARIABLES.contains(name))
}

/// Resolves an `exec` step's paths against `base` (the experiment file's folder) and checks what can be
/// checked before anything runs; finds a `call` step's function in `libraries`. Other steps pass through.
pub(super) fn settle_step(step: Step, base: &Path, libraries: &[StepLibrary]) -> Result<Step, StepError> {
    match step {
        Step::Exec(exec) => settle("exec", exec, base, true).map(Step::Exec),
        Step::Call(mut call) => {
            let names: Vec<&str> = libraries.iter().map(|l| l.name.as_str()).collect();
            let Some((library, function)) = call.name.split_once("::") else {
                let libraries = if names.is_empty() {
                    "a library of [libraries], which the file does not have yet".to_owned()
                } else {
                    format!("one of [libraries]: {}", quote_list(&names))
                };
                return Err((
                    format!("`call.function` is \"{}\", without its library", call.name),
                    Some(format!("\"LIBRARY::FUNCTION\", with LIBRARY {libraries}")),
                ));
            };
            let Some(found) = libraries.iter().find(|l| l.name == library) else {
                let hint = crate::diagnostic::closest(library, names.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                let expected = if names.is_empty() {
                    "a library of [libraries], but the file has none: add `[libraries] NAME = \"path/to/libNAME.so\"`"
                        .to_owned()
                } else {
                    format!("one of [libraries]: {}", quote_list(&names))
                };
                return Err((format!("`call`: unknown library `{library}`{hint}"), Some(expected)));
            };
            let Some(functions) = &found.functions else {
                // A result folder's experiment, which is read and never run: the function is as written.
                call.library = found.path.to_string_lossy().into_owned();
                return Ok(Step::Call(call));
            };
            let functions: Vec<&str> = functions.iter().map(String::as_str).collect();
            let Some(index) = functions.iter().position(|f| *f == function) else {
                let hint = crate::diagnostic::closest(function, functions.iter().copied())
                    .map(|c| format!(" (did you mean `{library}::{c}`?)"))
                    .unwrap_or_default();
                return Err((
                    format!("`call`: library `{library}` has no function `{function}`{hint}"),
                    Some(format!("one of the functions it exports: {}", quote_list(&functions))),
                ));
            };
            call.library = found.path.to_string_lossy().into_owned();
            call.function = index as u32;
            Ok(Step::Call(call))
        }
        other => Ok(other),
    }
}

/// Resolves a program's `cwd` (the experiment file's folder when it has none), `stdin` and a program named
/// by a path against `base`, and checks that they exist. `per_task_allowed` says whether `${task}` and
/// `${worker}` may appear (in steps, not in hooks).
pub(super) fn settle(what: &str, mut exec: Exec, base: &Path, per_task_allowed: bool) -> Result<Exec, StepError> {
    let all = exec.argv.iter().chain(exec.env.iter().map(|(_, v)| v)).chain(&exec.cwd).chain(&exec.stdin);
    if !per_task_allowed && all.clone().any(|s| per_task(s)) {
        return Err((
            format!("`{what}` uses `${{task}}` or `${{worker}}`, which only a task has"),
            Some("the axes of the cell (a hook runs once per run, not per task)".to_owned()),
        ));
    }
    // Messages show paths as the file wrote them; the run gets them absolute.
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let base = if base.as_os_str().is_empty() { Path::new(".") } else { base };
    let join = |path: &str| if base == Path::new(".") { Path::new(path).to_owned() } else { base.join(path) };
    let cwd = exec.cwd.as_deref().map_or_else(|| base.to_owned(), join);
    let cwd_known = !per_task(&cwd.to_string_lossy());
    if cwd_known && !cwd.is_dir() {
        return Err((
            format!("`{what}.cwd` {} is not a folder", cwd.display()),
            Some("a folder that exists, relative to the experiment file".to_owned()),
        ));
    }
    let given_cwd = exec.cwd.is_some();
    exec.cwd = Some(absolute(&cwd).to_string_lossy().into_owned());
    if let Some(stdin) = &exec.stdin {
        let path = join(stdin);
        if !per_task(stdin) && !path.is_file() {
            return Err((
                format!("`{what}.stdin` {} is not a file", path.display()),
                Some("a file that exists, relative to the experiment file".to_owned()),
            ));
        }
        exec.stdin = Some(absolute(&path).to_string_lossy().into_owned());
    }
    let program = exec.argv[0].clone();
    if !references(&program).is_empty() {
        return Ok(exec);
    }
    if program.contains('/') {
        let path = cwd.join(&program);
        if cwd_known {
            check_executable(what, &program, &path, given_cwd)?;
        }
        exec.argv[0] = absolute(&path).to_string_lossy().into_owned();
    } else if !on_path(&program, &exec.env) {
        return Err((
            format!("`{what}`: program `{program}` is not found on PATH"),
            Some("a program on PATH, or a path to one (relative to `cwd`), such as \"./bench\"".to_owned()),
        ));
    }
    Ok(exec)
}

/// Whether `program` (a bare name) is an executable file in a folder of the PATH that `env` gives it, or
/// else the harness's own.
pub(super) fn on_path(program: &str, env: &[(String, String)]) -> bool {
    let path_var = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()).or_else(|| std::env::var("PATH").ok());
    path_var
        .as_deref()
        .unwrap_or_default()
        .split(':')
        .filter(|dir| !dir.is_empty())
        .any(|dir| is_executable(&Path::new(dir).join(program)))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn check_executable(what: &str, program: &str, path: &Path, in_cwd: bool) -> Result<(), StepError> {
    let expected =
        || Some("an executable file, relative to `cwd` (the experiment file's folder by default)".to_owned());
    let shown = if in_cwd { format!("`{program}` ({})", path.display()) } else { format!("`{program}`") };
    match std::fs::metadata(path) {
        Err(_) => Err((format!("`{what}`: program {shown} does not exist"), expected())),
        Ok(m) if !m.is_file() => Err((format!("`{what}`: program {shown} is not a file"), expected())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err((
            format!("`{what}`: program {shown} is not executable"),
            Some("an executable file: `chmod +x` it".to_owned()),
        )),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {text}")).unwrap()["v"].clone()
    }

    #[test]
    fn the_three_forms_parse() {
        let exec = parse("exec", &value(r#"["gzip", "-c", 3]"#)).unwrap();
        assert_eq!(exec.argv, ["gzip", "-c", "3"]);
        assert_eq!((exec.output, exec.ok.as_slice()), (Output::Hash, &[0][..]));
        assert_eq!(parse("exec", &value(r#""echo hi | wc -c""#)).unwrap().argv, ["sh", "-c", "echo hi | wc -c"]);
        let table = parse(
            "exec",
            &value(r#"{ command = "exit 1", env = { A = "b" }, cwd = "sub", stdin = "in", output = "ignore", ok = [0, 1] }"#),
        )
        .unwrap();
        assert_eq!(table.env, [("A".to_owned(), "b".to_owned())]);
        assert_eq!((table.cwd.as_deref(), table.stdin.as_deref()), (Some("sub"), Some("in")));
        assert_eq!((table.output, table.ok), (Output::Ignore, vec![0, 1]));
        assert!(parse("exec", &value("[]")).unwrap_err().0.contains("empty command"));
        assert!(parse("exec", &value(r#""  ""#)).unwrap_err().0.contains("empty command"));
        assert!(parse("exec", &value(r#"{ comand = "x" }"#)).unwrap_err().0.contains("did you mean `command`"));
        assert!(parse("exec", &value(r#"{ command = "x", ok = [300] }"#)).is_err());
    }

    #[test]
    fn programs_are_found_at_load() {
        let base = std::env::temp_dir();
        assert!(settle("exec", parse("exec", &value(r#"["sh", "-c", "true"]"#)).unwrap(), &base, true).is_ok());
        let missing = settle("exec", parse("exec", &value(r#"["no-such-program-x"]"#)).unwrap(), &base, true);
        assert!(missing.unwrap_err().0.contains("is not found on PATH"));
        // Only a run knows which program `${task}` names.
        assert!(settle("exec", parse("exec", &value(r#"["prog-${task}"]"#)).unwrap(), &base, true).is_ok());
        assert!(settle("prepare", parse("prepare", &value(r#"["echo", "${task}"]"#)).unwrap(), &base, false).is_err());
    }
}
