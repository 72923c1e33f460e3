//! `${axis}` references in workloads: finding them and substituting a cell's values.

use std::ops::Range;

use super::exec::RUNTIME_VARIABLES;
use super::matrix::{Cell, Value};
use super::raw::RawWorkload;

/// Every `${name}` in a string; an unterminated `${` is taken literally.
pub(super) fn references(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(start) = text[rest..].find("${").map(|i| i + rest) {
        let Some(len) = text[start + 2..].find('}') else { break };
        let end = start + 2 + len + 1;
        found.push((start..end, &text[start + 2..end - 1]));
        rest = end;
    }
    found
}

pub(super) fn collect_references(workload: &RawWorkload, out: &mut Vec<String>) {
    fn walk(value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) => out.extend(references(s).into_iter().map(|(_, n)| n.to_owned())),
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            toml::Value::Table(t) => t.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    if let Some(tasks) = &workload.tasks {
        walk(tasks.get_ref(), out);
    }
    for step in workload.steps.get_ref() {
        walk(step.get_ref(), out);
    }
    if let Some(arrival) = &workload.arrival {
        arrival.get_ref().values().for_each(|v| walk(v.get_ref(), out));
    }
    for hook in workload.prepare.iter().chain(&workload.conclude) {
        walk(hook.get_ref(), out);
    }
    // `${task}` and `${worker}` are the run's, not axes.
    out.retain(|name| !RUNTIME_VARIABLES.contains(&name.as_str()));
}

/// `value` with the cell's values in place of `${axis}`; `${task}` and `${worker}` stay, for the run to
/// substitute in each task. The error is a name that is neither.
pub(super) fn substitute_value(value: &toml::Value, cell: &Cell) -> Result<toml::Value, String> {
    Ok(match value {
        toml::Value::String(s) => {
            let refs: Vec<_> =
                references(s).into_iter().filter(|(_, name)| !RUNTIME_VARIABLES.contains(name)).collect();
            if refs.is_empty() {
                return Ok(value.clone());
            }
            for (_, name) in &refs {
                if !cell.contains_key(*name) {
                    return Err((*name).to_owned());
                }
            }
            if refs.len() == 1 && refs[0].0 == (0..s.len()) {
                return Ok(match &cell[refs[0].1] {
                    Value::String(v) => toml::Value::String(v.to_string()),
                    Value::Integer(i) => toml::Value::Integer(*i),
                    Value::Float(x) => toml::Value::Float(*x),
                    Value::Bool(b) => toml::Value::Boolean(*b),
                });
            }
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            for (range, name) in refs {
                out.push_str(&s[last..range.start]);
                out.push_str(&cell[name].to_string());
                last = range.end;
            }
            out.push_str(&s[last..]);
            toml::Value::String(out)
        }
        toml::Value::Array(items) => {
            toml::Value::Array(items.iter().map(|v| substitute_value(v, cell)).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => {
            let mut out = toml::Table::new();
            for (k, v) in table {
                out.insert(k.clone(), substitute_value(v, cell)?);
            }
            toml::Value::Table(out)
        }
        other => other.clone(),
    })
}

/// The characters the shell gives a meaning of its own: a value that holds one, pasted into a program run
/// with `sh -c`, would run as code. Spaces are not among them (a value of several words is several words).
const SHELL_SPECIAL: &[char] = &[
    ';', '&', '|', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '{', '}', '~', '#', '!', '\n',
    '\r',
];

/// Checks what the cell's values would make of the programs in `value`, before they are substituted: a
/// value that holds `${` would be substituted again (a run's `${task}`), so none may, anywhere; and a value
/// pasted into a program run with `sh -c` (the string form of `exec`, of a hook, or of a table's `command`)
/// may hold none of the shell's special characters. `program` says that `value` itself is a program (a
/// hook); an `exec` key within it says so of its value. The error is the message, and what to do instead.
pub(super) fn check_values(value: &toml::Value, cell: &Cell, program: bool) -> Result<(), (String, String)> {
    match value {
        toml::Value::String(s) => {
            for (_, name) in references(s) {
                let Some(Value::String(v)) = cell.get(name) else { continue };
                if v.contains("${") {
                    return Err((
                        format!("the value {v:?} of `{name}` holds `${{`, which would be substituted again"),
                        "a value without `${`: a cell's values are substituted once".to_owned(),
                    ));
                }
                if program {
                    if let Some(c) = v.chars().find(|c| SHELL_SPECIAL.contains(c)) {
                        return Err((
                            format!(
                                "the value {v:?} of `{name}` holds {c:?}, which `sh -c` would run as code in this \
                                 program's string form"
                            ),
                            format!(
                                "the array form, whose words are never run by a shell: `[\"PROGRAM\", \"${{{name}}}\"]`"
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
        // An array is a program run directly: its words are data.
        toml::Value::Array(items) => items.iter().try_for_each(|v| check_values(v, cell, false)),
        toml::Value::Table(table) => table.iter().try_for_each(|(key, v)| {
            let is_program = key == "exec" || (program && key == "command");
            check_values(v, cell, is_program)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found() {
        let refs: Vec<&str> = references("${a}-x-${bc}${").into_iter().map(|(_, n)| n).collect();
        assert_eq!(refs, ["a", "bc"]);
    }

    #[test]
    fn a_whole_reference_keeps_the_axis_type() {
        let cell: Cell =
            [("n".into(), Value::Integer(3)), ("d".into(), Value::String("1ms".into()))].into_iter().collect();
        assert_eq!(substitute_value(&toml::Value::String("${n}".into()), &cell), Ok(toml::Value::Integer(3)));
        assert_eq!(
            substitute_value(&toml::Value::String("${d}x${n}".into()), &cell),
            Ok(toml::Value::String("1msx3".into()))
        );
        assert_eq!(substitute_value(&toml::Value::String("${zz}".into()), &cell), Err("zz".to_owned()));
    }

    #[test]
    fn task_and_worker_are_left_for_the_run() {
        let cell: Cell = [("n".into(), Value::Integer(3))].into_iter().collect();
        assert_eq!(
            substitute_value(&toml::Value::String("in-${task}-${n}-${worker}".into()), &cell),
            Ok(toml::Value::String("in-${task}-3-${worker}".into()))
        );
        assert_eq!(
            substitute_value(&toml::Value::String("${task}".into()), &cell),
            Ok(toml::Value::String("${task}".into()))
        );
    }

    #[test]
    fn values_that_a_shell_would_run_or_that_hold_a_reference_are_refused() {
        let cell: Cell = [
            ("level".into(), Value::String("1; touch X".into())),
            ("words".into(), Value::String("-O2 -g".into())),
            ("again".into(), Value::String("${task}".into())),
        ]
        .into_iter()
        .collect();
        let step = |text: &str| -> toml::Value { toml::from_str::<toml::Table>(text).unwrap().into() };
        // The string form runs with `sh -c`: refused, with the array form as the way out.
        let (message, instead) = check_values(&step(r#"exec = "echo ${level}""#), &cell, false).unwrap_err();
        assert!(message.contains("holds ';'") && instead.contains("array form"), "{message}");
        let table = step(r#"exec = { command = "echo ${level}", cwd = "/" }"#);
        assert!(check_values(&table, &cell, false).is_err());
        // The array form's words are data; words with spaces are fine anywhere.
        assert_eq!(check_values(&step(r#"exec = ["echo", "${level}"]"#), &cell, false), Ok(()));
        assert_eq!(check_values(&step(r#"exec = "cc ${words} x.c""#), &cell, false), Ok(()));
        // A hook is a program itself.
        assert!(check_values(&toml::Value::String("echo ${level}".into()), &cell, true).is_err());
        assert_eq!(check_values(&toml::Value::String("echo ${level}".into()), &cell, false), Ok(()));
        // `${` in a value would be substituted again, in any form.
        let (message, _) = check_values(&step(r#"exec = ["echo", "${again}"]"#), &cell, false).unwrap_err();
        assert!(message.contains("substituted again"), "{message}");
    }
}
