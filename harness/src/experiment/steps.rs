//! The step grammar: one table per step, and the sizes and durations that steps (and other keys) take.

use harness_sdk::protocol::{Connect, HttpBody, HttpChecksum, HttpRequest, SharedLock, SharedStore, Step};

use super::{quote_list, units};

pub(super) type StepError = (String, Option<String>);

/// The most fixture files one `read_file` step may ask for (the harness writes each before the first run).
pub(crate) const MAX_FIXTURE_FILES: u32 = 65_536;

/// A step kind of the grammar. The list of kinds is [`KINDS`]; the SDK does each (`harness_sdk::steps`),
/// and `schema.rs` describes each for editors, which a test of the schema holds to this grammar.
pub(crate) struct Kind {
    /// The key that names it: `{ sleep = "10ms" }`.
    pub name: &'static str,
    /// The keys of its table; empty when it takes no table of keys of its own.
    pub keys: &'static [&'static str],
    /// Which of a task's numbers a run substitutes in it.
    pub numbers: Numbers,
    parse: fn(&Kind, &toml::Value) -> Result<Step, StepError>,
}

/// Which of a task's numbers a run substitutes in a step: `${task}`, and `${worker}` too, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbers {
    None,
    Task,
    TaskAndWorker,
}

/// Every step kind, in the order messages list them (the SDK's order).
pub(crate) const KINDS: &[Kind] = &[
    Kind {
        name: "compute",
        keys: &[],
        numbers: Numbers::None,
        parse: |k, v| Ok(Step::Compute { bytes: size(k.name, v)? }),
    },
    Kind {
        name: "sleep",
        keys: &[],
        numbers: Numbers::None,
        parse: |k, v| Ok(Step::Sleep { nanos: duration(k.name, v)? }),
    },
    Kind { name: "read_file", keys: &["size", "files"], numbers: Numbers::None, parse: read_file },
    Kind { name: "net", keys: &["request", "response", "delay", "connect"], numbers: Numbers::None, parse: net },
    Kind { name: "shared", keys: &["hold", "store", "url", "lock"], numbers: Numbers::None, parse: shared },
    Kind {
        name: "alloc",
        keys: &[],
        numbers: Numbers::None,
        parse: |k, v| Ok(Step::Alloc { bytes: size(k.name, v)? }),
    },
    Kind {
        name: "exec",
        keys: super::exec::KEYS,
        numbers: Numbers::TaskAndWorker,
        parse: |k, v| super::exec::parse(k.name, v).map(Step::Exec),
    },
    Kind { name: "call", keys: &["function", "arg"], numbers: Numbers::TaskAndWorker, parse: call },
    Kind { name: "redis", keys: &["command", "url", "connect"], numbers: Numbers::Task, parse: redis },
    Kind {
        name: "http",
        keys: &["url", "method", "headers", "body", "expect", "checksum", "connect"],
        numbers: Numbers::Task,
        parse: http,
    },
];

/// The names of the step kinds, for messages.
fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// Which of a task's numbers a run substitutes in a step of kind `name` (none for a name of no kind).
pub(super) fn numbers(name: &str) -> Numbers {
    KINDS.iter().find(|k| k.name == name).map_or(Numbers::None, |k| k.numbers)
}

/// The kinds in which a run substitutes exactly `numbers`, for messages: "`exec` and `call`".
pub(super) fn kinds_with(numbers: Numbers, conjunction: &str) -> String {
    let names: Vec<String> = KINDS.iter().filter(|k| k.numbers == numbers).map(|k| format!("`{}`", k.name)).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} {conjunction} {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Parses one step: a table with exactly one key naming the kind.
pub(crate) fn parse_step(value: &toml::Value) -> Result<Step, StepError> {
    let table = value.as_table().filter(|t| t.len() == 1).ok_or_else(|| {
        (
            "a step is a table with one key".to_owned(),
            Some(format!("one of {}, for example {{ sleep = \"10ms\" }}", quote_list(&names()))),
        )
    })?;
    let (name, arg) = table.iter().next().expect("one key");
    let Some(kind) = KINDS.iter().find(|k| k.name == name) else {
        let hint = crate::diagnostic::closest(name, KINDS.iter().map(|k| k.name))
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        return Err((format!("unknown step `{name}`{hint}"), Some(format!("one of {}", quote_list(&names())))));
    };
    (kind.parse)(kind, arg)
}

/// `{ read_file = { size, files } }`.
fn read_file(kind: &Kind, arg: &toml::Value) -> Result<Step, StepError> {
    let t = fields(kind, arg)?;
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
    let size = t
        .get("size")
        .ok_or_else(|| ("`read_file` needs `size`".to_owned(), Some("{ size = \"64KiB\", files = 8 }".to_owned())))?;
    Ok(Step::ReadFile { size: self::size("read_file.size", size)?, files })
}

/// `{ net = { request, response, delay, connect } }`.
fn net(kind: &Kind, arg: &toml::Value) -> Result<Step, StepError> {
    let t = fields(kind, arg)?;
    let get_size = |key: &str| t.get(key).map_or(Ok(0), |v| size(&format!("net.{key}"), v));
    let connect = connect("net", t.get("connect"), false)?;
    Ok(Step::Net {
        request: get_size("request")?,
        response: get_size("response")?,
        delay_nanos: t.get("delay").map_or(Ok(0), |v| duration("net.delay", v))?,
        connect,
    })
}

/// `{ call = { function, arg } }`.
fn call(kind: &Kind, arg: &toml::Value) -> Result<Step, StepError> {
    let t = fields(kind, arg)?;
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

/// `{ shared = { hold, store, url, lock } }`.
fn shared(kind: &Kind, arg: &toml::Value) -> Result<Step, StepError> {
    let t = fields(kind, arg)?;
    let store = match (t.get("store"), t.get("url")) {
        (None, None) => SharedStore::Executor,
        (Some(toml::Value::String(s)), url) if s == "redis" => {
            SharedStore::Redis { url: redis_url("shared.url", url)? }
        }
        (None, Some(_)) => {
            return Err((
                "`shared.url` needs `store = \"redis\"`".to_owned(),
                Some("store = \"redis\", url = \"redis://...\"".to_owned()),
            ));
        }
        (Some(other), _) => {
            return Err((
                format!("`shared.store` is {other}"),
                Some("\"redis\" (without `store`, the executor keeps the counter)".to_owned()),
            ));
        }
    };
    let lock = match t.get("lock") {
        None => SharedLock::Exclusive,
        Some(toml::Value::String(s)) if s == "exclusive" => SharedLock::Exclusive,
        Some(toml::Value::String(s)) if s == "none" => SharedLock::None,
        Some(other) => {
            return Err((format!("`shared.lock` is {other}"), Some("\"exclusive\" or \"none\"".to_owned())));
        }
    };
    Ok(Step::Shared { hold_nanos: t.get("hold").map_or(Ok(0), |v| duration("shared.hold", v))?, store, lock })
}

/// `{ redis = [...] }` or `{ redis = { command, url, connect } }`.
fn redis(kind: &Kind, arg: &toml::Value) -> Result<Step, StepError> {
    let expected = || {
        Some("a command as a list of strings, { redis = [\"INCR\", \"key-${task}\"] }, or { redis = { command = [...], url = \"redis://HOST:PORT/\" } }".to_owned())
    };
    let (command, url, connect) = match arg {
        toml::Value::Array(_) => (arg, String::new(), Connect::Reuse),
        toml::Value::Table(_) => {
            let t = fields(kind, arg)?;
            let url = redis_url("redis.url", t.get("url"))?;
            let connect = connect("redis", t.get("connect"), true)?;
            (t.get("command").ok_or_else(|| ("`redis` needs `command`".to_owned(), expected()))?, url, connect)
        }
        other => return Err((format!("`redis` is {other}"), expected())),
    };
    let words: Option<Vec<String>> =
        command.as_array().and_then(|items| items.iter().map(|i| i.as_str().map(str::to_owned)).collect());
    match words {
        // An empty `url` is filled in by the resolver: the `redis` service's address.
        Some(words) if !words.is_empty() && !words[0].is_empty() => Ok(Step::Redis { url, command: words, connect }),
        _ => Err((format!("`redis` command is {command}"), expected())),
    }
}

/// `{ http = { url, method, headers, body, expect, checksum, connect } }`.
fn http(kind: &Kind, arg: &toml::Value) -> Result<Step, StepError> {
    let t = fields(kind, arg)?;
    let string = |key: &str| {
        t.get(key)
            .map(|v| v.as_str().ok_or_else(|| (format!("`http.{key}` is {v}"), Some("a string".to_owned()))))
            .transpose()
    };
    let url = string("url")?.ok_or_else(|| {
        ("`http` needs `url`".to_owned(), Some("url = \"http://127.0.0.1:${services.api.port}/\"".to_owned()))
    })?;
    if !url.starts_with("http://") {
        return Err((format!("`http.url` is \"{url}\""), Some("an http:// URL".to_owned())));
    }
    // What a value substituted later (a service's port, the task) leaves to be checked when the task runs.
    if !url.contains("${") {
        harness_sdk::http1::Url::parse(url)
            .map_err(|e| (format!("`http.url` is \"{url}\": {e}"), Some("http://HOST:PORT/PATH?QUERY".to_owned())))?;
    }
    let method = string("method")?.unwrap_or("GET");
    if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err((
            format!("`http.method` is \"{method}\""),
            Some("a method in capitals, such as \"GET\" or \"POST\"".to_owned()),
        ));
    }
    let headers = match t.get("headers") {
        None => Vec::new(),
        Some(toml::Value::Table(h)) => h
            .iter()
            .map(|(k, v)| {
                let value =
                    v.as_str().ok_or_else(|| (format!("`http.headers.{k}` is {v}"), Some("a string".to_owned())))?;
                harness_sdk::http1::check_header(k, value)
                    .map_err(|e| (format!("`http.headers.{k}`: {e}"), Some("one line of text".to_owned())))?;
                Ok((k.clone(), value.to_owned()))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err((format!("`http.headers` is {other}"), Some("a table of strings".to_owned()))),
    };
    let body = match t.get("body") {
        None => HttpBody::Empty,
        Some(toml::Value::String(text)) => HttpBody::Text(text.clone()),
        Some(toml::Value::Table(b)) if b.len() == 1 && b.contains_key("size") => {
            HttpBody::Seeded(size("http.body.size", &b["size"])?)
        }
        Some(other) => {
            return Err((
                format!("`http.body` is {other}"),
                Some("a string, or { size = SIZE } of seeded bytes".to_owned()),
            ));
        }
    };
    let expect = match t.get("expect") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_integer().and_then(|n| u16::try_from(n).ok()).filter(|n| (100..600).contains(n)).ok_or_else(|| {
                    (format!("`http.expect` holds {i}"), Some("a list of statuses from 100 to 599".to_owned()))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err((
                format!("`http.expect` is {other}"),
                Some("a list of statuses, such as [200, 404]".to_owned()),
            ));
        }
    };
    let checksum = match string("checksum")? {
        None | Some("body") => HttpChecksum::Body,
        Some("status") => HttpChecksum::Status,
        Some(other) => {
            return Err((format!("`http.checksum` is \"{other}\""), Some("\"body\" or \"status\"".to_owned())));
        }
    };
    let connect = connect("http", t.get("connect"), false)?;
    Ok(Step::Http(HttpRequest {
        url: url.to_owned(),
        method: method.to_owned(),
        headers,
        body,
        expect,
        checksum,
        connect,
    }))
}

/// The `connect` of a `step` step: a connection per task slot (`reuse`), one per request, or, where the
/// step can pipeline its requests (`shares`), one connection shared by every task in flight.
fn connect(step: &str, value: Option<&toml::Value>, shares: bool) -> Result<Connect, StepError> {
    match value.map(|v| (v, v.as_str())) {
        None | Some((_, Some("reuse"))) => Ok(Connect::Reuse),
        Some((_, Some("per_request"))) => Ok(Connect::PerRequest),
        Some((_, Some("shared"))) if shares => Ok(Connect::Shared),
        Some((other, written)) => Err((
            {
                let values: &[&str] =
                    if shares { &["reuse", "per_request", "shared"] } else { &["reuse", "per_request"] };
                let why = match written {
                    Some("shared") => format!(": `{step}` steps cannot share one connection among tasks"),
                    Some(word) => crate::diagnostic::closest(word, values.iter().copied())
                        .map(|best| format!(" (did you mean \"{best}\"?)"))
                        .unwrap_or_default(),
                    None => String::new(),
                };
                format!("`{step}.connect` is {other}{why}")
            },
            Some(if shares {
                "\"reuse\" (a connection per task slot), \"per_request\" or \"shared\" (one connection for every task in flight)".to_owned()
            } else {
                "\"reuse\" or \"per_request\" (only `redis` steps share one connection among tasks)".to_owned()
            }),
        )),
    }
}

/// The `url` of a Redis server; empty when not given, for the resolver to fill with the `redis` service's.
fn redis_url(key: &str, value: Option<&toml::Value>) -> Result<String, StepError> {
    match value {
        None => Ok(String::new()),
        Some(toml::Value::String(url)) if url.starts_with("redis://") => Ok(url.clone()),
        Some(other) => {
            Err((format!("`{key}` is {other}"), Some("a URL such as \"redis://127.0.0.1:6379/\"".to_owned())))
        }
    }
}

/// The table of a step of `kind`, whose keys must be the kind's.
fn fields<'v>(kind: &Kind, value: &'v toml::Value) -> Result<&'v toml::Table, StepError> {
    let (name, allowed) = (kind.name, kind.keys);
    let table = value.as_table().ok_or_else(|| {
        (format!("`{name}` takes a table"), Some(format!("a table with keys {}", quote_list(allowed))))
    })?;
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = crate::diagnostic::closest(key, allowed.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err((format!("`{name}` has no key `{key}`{hint}"), Some(format!("keys {}", quote_list(allowed)))));
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
    fn the_reference_has_a_row_for_every_step_kind() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/experiment-format.md");
        let reference = std::fs::read_to_string(&path).expect("the reference");
        for kind in KINDS {
            let row = format!("\n| `{}` | ", kind.name);
            assert!(reference.contains(&row), "{} has no row for the step `{}`", path.display(), kind.name);
        }
    }

    #[test]
    fn steps_parse() {
        let step = |s: &str| parse_step(&toml::from_str::<toml::Table>(&format!("s = {s}")).unwrap()["s"]);
        assert_eq!(step("{ compute = \"1KiB\" }"), Ok(Step::Compute { bytes: 1024 }));
        assert_eq!(step("{ sleep = \"2ms\" }"), Ok(Step::Sleep { nanos: 2_000_000 }));
        assert_eq!(
            step("{ shared = {} }"),
            Ok(Step::Shared { hold_nanos: 0, store: SharedStore::Executor, lock: SharedLock::Exclusive })
        );
        assert_eq!(
            step("{ shared = { store = \"redis\", hold = \"50us\", lock = \"none\" } }"),
            Ok(Step::Shared {
                hold_nanos: 50_000,
                store: SharedStore::Redis { url: String::new() },
                lock: SharedLock::None
            })
        );
        assert!(step("{ shared = { store = \"memcached\" } }").is_err());
        assert!(step("{ shared = { url = \"redis://x/\" } }").is_err());
        assert!(step("{ shared = { lock = \"maybe\" } }").is_err());
        assert_eq!(
            step("{ net = { response = \"1KiB\", delay = \"1ms\", connect = \"per_request\" } }"),
            Ok(Step::Net { request: 0, response: 1024, delay_nanos: 1_000_000, connect: Connect::PerRequest })
        );
        assert!(step("{ slep = \"2ms\" }").unwrap_err().0.contains("did you mean `sleep`"));
        assert!(step("{ sleep = \"2 lightyears\" }").is_err());
    }
}
