//! The step grammar: one table per step, and the sizes and durations that steps (and other keys) take.

use harness_sdk::protocol::{Connect, Step};

use super::{quote_list, raw, units};

pub(super) type StepError = (String, Option<String>);

/// The most fixture files one `read_file` step may ask for (the harness writes each before the first run).
pub(crate) const MAX_FIXTURE_FILES: u32 = 65_536;

/// Parses one step: a table with exactly one key naming the kind.
pub(super) fn parse_step(value: &toml::Value) -> Result<Step, StepError> {
    let table = value.as_table().filter(|t| t.len() == 1).ok_or_else(|| {
        (
            "a step is a table with one key".to_owned(),
            Some(format!("one of {}, for example {{ sleep = \"10ms\" }}", quote_list(raw::STEP_KINDS))),
        )
    })?;
    let (kind, arg) = table.iter().next().expect("one key");
    match kind.as_str() {
        "compute" => Ok(Step::Compute { bytes: size(kind, arg)? }),
        "alloc" => Ok(Step::Alloc { bytes: size(kind, arg)? }),
        "sleep" => Ok(Step::Sleep { nanos: duration(kind, arg)? }),
        "read_file" => {
            let t = fields(kind, arg, &["size", "files"])?;
            let files = match t.get("files") {
                None => 1,
                Some(toml::Value::Integer(n)) if (1..=i64::from(MAX_FIXTURE_FILES)).contains(n) => *n as u32,
                Some(other) => {
                    return Err((
                        format!("`read_file.files` is {other}"),
                        Some(format!("an integer from 1 to {MAX_FIXTURE_FILES}")),
                    ));
                }
            };
            let size = t.get("size").ok_or_else(|| {
                ("`read_file` needs `size`".to_owned(), Some("{ size = \"64KiB\", files = 8 }".to_owned()))
            })?;
            Ok(Step::ReadFile { size: self::size("read_file.size", size)?, files })
        }
        "net" => {
            let t = fields(kind, arg, &["request", "response", "delay", "connect"])?;
            let get_size = |key: &str| t.get(key).map_or(Ok(0), |v| size(&format!("net.{key}"), v));
            let connect = match t.get("connect") {
                None => Connect::Reuse,
                Some(toml::Value::String(s)) if s == "reuse" => Connect::Reuse,
                Some(toml::Value::String(s)) if s == "per_request" => Connect::PerRequest,
                Some(other) => {
                    return Err((format!("`net.connect` is {other}"), Some("\"reuse\" or \"per_request\"".to_owned())));
                }
            };
            Ok(Step::Net {
                request: get_size("request")?,
                response: get_size("response")?,
                delay_nanos: t.get("delay").map_or(Ok(0), |v| duration("net.delay", v))?,
                connect,
            })
        }
        "exec" => super::exec::parse(kind, arg).map(Step::Exec),
        "call" => {
            let t = fields(kind, arg, &["function", "arg"])?;
            let function = match t.get("function") {
                Some(toml::Value::String(f)) => f.clone(),
                Some(other) => {
                    return Err((format!("`call.function` is {other}"), Some("\"LIBRARY::FUNCTION\"".to_owned())));
                }
                None => {
                    return Err((
                        "`call` needs `function`".to_owned(),
                        Some("{ function = \"mine::parse_json\", arg = \"...\" }".to_owned()),
                    ));
                }
            };
            let arg = match t.get("arg") {
                None => String::new(),
                Some(toml::Value::String(s)) => s.clone(),
                Some(toml::Value::Integer(n)) => n.to_string(),
                Some(toml::Value::Float(x)) => x.to_string(),
                Some(toml::Value::Boolean(b)) => b.to_string(),
                Some(other) => return Err((format!("`call.arg` is {other}"), Some("a string".to_owned()))),
            };
            // The library is resolved with the file's [libraries] (`super::exec::settle_step`).
            Ok(Step::Call(harness_sdk::protocol::Call { library: String::new(), name: function, function: 0, arg }))
        }
        "shared" => {
            let t = fields(kind, arg, &["hold"])?;
            Ok(Step::Shared { hold_nanos: t.get("hold").map_or(Ok(0), |v| duration("shared.hold", v))? })
        }
        other => {
            let hint = crate::diagnostic::closest(other, raw::STEP_KINDS.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err((format!("unknown step `{other}`{hint}"), Some(format!("one of {}", quote_list(raw::STEP_KINDS)))))
        }
    }
}

fn fields<'v>(kind: &str, value: &'v toml::Value, allowed: &[&str]) -> Result<&'v toml::Table, StepError> {
    let table = value.as_table().ok_or_else(|| {
        (format!("`{kind}` takes a table"), Some(format!("a table with keys {}", quote_list(allowed))))
    })?;
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = crate::diagnostic::closest(key, allowed.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err((format!("`{kind}` has no key `{key}`{hint}"), Some(format!("keys {}", quote_list(allowed)))));
        }
    }
    Ok(table)
}

pub(super) fn size(key: &str, value: &toml::Value) -> Result<u64, StepError> {
    let parsed = match value {
        toml::Value::Integer(n) if *n >= 0 && *n as u64 <= units::MAX_SIZE => Ok(*n as u64),
        toml::Value::Integer(n) if *n >= 0 => Err(format!("{n} bytes is more than the largest size accepted, 1024GiB")),
        toml::Value::String(s) => units::parse_size(s),
        other => Err(format!("{other} is not a size")),
    };
    parsed.map_err(|why| (format!("`{key}`: {why}"), Some(units::SIZE_EXPECTED.to_owned())))
}

pub(super) fn duration(key: &str, value: &toml::Value) -> Result<u64, StepError> {
    let parsed = match value {
        toml::Value::String(s) => units::parse_duration(s),
        other => Err(format!("{other} is not a duration")),
    };
    parsed
        .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
        .map_err(|why| (format!("`{key}`: {why}"), Some(units::DURATION_EXPECTED.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse() {
        let step = |s: &str| parse_step(&toml::from_str::<toml::Table>(&format!("s = {s}")).unwrap()["s"]);
        assert_eq!(step("{ compute = \"1KiB\" }"), Ok(Step::Compute { bytes: 1024 }));
        assert_eq!(step("{ sleep = \"2ms\" }"), Ok(Step::Sleep { nanos: 2_000_000 }));
        assert_eq!(step("{ shared = {} }"), Ok(Step::Shared { hold_nanos: 0 }));
        assert_eq!(
            step("{ net = { response = \"1KiB\", delay = \"1ms\", connect = \"per_request\" } }"),
            Ok(Step::Net { request: 0, response: 1024, delay_nanos: 1_000_000, connect: Connect::PerRequest })
        );
        assert!(step("{ slep = \"2ms\" }").unwrap_err().0.contains("did you mean `sleep`"));
        assert!(step("{ sleep = \"2 lightyears\" }").is_err());
    }
}
