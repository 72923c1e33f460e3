//! `harness schema`: a JSON Schema (draft 07) of the experiment file, for editors.
//!
//! The options of `[executors.NAME]` come from the executors found on the search path, so an editor
//! completes the options of the plugins this harness can actually load.

use harness_sdk::protocol::{OptionKind, OptionSpec};
use serde_json::{Value, json};

use crate::plugin::Registry;

const DURATION: &str = r"^\s*([0-9]+\s*[A-Za-zµ]+\s*)+$";
const SIZE: &str = r"^\s*[0-9]+\s*(B|KiB|MiB|GiB|kB|KB|MB|GB)?\s*$";
const PERCENT: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*%?\s*$";
const REFERENCE: &str = r"\$\{[^}]+\}";
const RATE: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*/\s*(s|min|h)\s*$";

fn duration() -> Value {
    json!({ "type": "string", "anyOf": [{ "pattern": DURATION }, { "pattern": REFERENCE }], "description": "A duration: \"250us\", \"10ms\", \"2s\"; or \"${axis}\"" })
}

/// `[ci]`: the gate.
fn ci() -> Value {
    json!({
        "type": "object",
        "description": "What `harness compare` gates on; see docs/ci.md",
        "additionalProperties": false,
        "properties": {
            "threshold": { "type": "string", "pattern": PERCENT, "default": "5%", "description": "Changes smaller than this are noise" },
            "metrics": { "type": "array", "items": { "type": "string" }, "description": "Columns of runs.csv to compare: the harness's, custom metrics, a service's (service_NAME_cpu_s, service_NAME_peak_memory_bytes), or service_*_cpu_s and service_*_peak_memory_bytes for every service's" },
            "time_floor": { "type": "string", "pattern": DURATION, "default": "1ms", "description": "A change of a time metric smaller than this is never a regression nor an improvement (paired comparisons have none unless set)" },
            "baseline": {
                "type": "object",
                "description": "A paired comparison: one axis and its value that every other value of the axis is judged against, in the same rounds",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": { "type": ["string", "integer", "number", "boolean"] }
            },
            "inconclusive": { "enum": ["pass", "fail"], "default": "pass", "description": "What a change whose interval straddles its threshold does to the exit code" },
            "history": { "type": "string", "minLength": 1, "description": "The history file (SQLite) each finished result is appended to, relative to this file; see docs/ci.md" },
            "memory_floor": { "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string", "pattern": SIZE }], "default": "1MiB", "description": "A change of peak memory smaller than this is never a regression nor an improvement" },
            "thresholds": {
                "type": "object",
                "description": "Per metric: one percentage, or one per direction of change; throughput_per_s takes run_s's; \"service_*_cpu_s\" sets every service's, below a service's own",
                "propertyNames": { "not": { "const": "throughput_per_s" } },
                "additionalProperties": {
                    "anyOf": [
                        { "type": "string", "pattern": PERCENT },
                        {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                                "increase": { "type": "string", "pattern": PERCENT },
                                "decrease": { "type": "string", "pattern": PERCENT }
                            }
                        }
                    ]
                }
            }
        }
    })
}

/// `repetitions`: a count, or a range of rounds.
fn repetitions() -> Value {
    json!({
        "description": "Measured runs per cell; or a range of rounds, run until every comparison of the file is decided (docs/ci.md)",
        "default": 5,
        "anyOf": [
            { "type": "integer", "minimum": 1, "maximum": crate::experiment::MAX_COUNT },
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["min", "max"],
                "properties": {
                    "min": { "type": "integer", "minimum": 1, "maximum": crate::experiment::MAX_COUNT, "description": "Rounds every cell runs" },
                    "max": { "type": "integer", "minimum": 1, "maximum": crate::experiment::MAX_COUNT, "description": "Rounds a cell runs at most while its comparisons are undecided" }
                }
            }
        ]
    })
}

fn size() -> Value {
    json!({
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": SIZE },
            { "type": "string", "pattern": REFERENCE }
        ],
        "description": "A size: \"512B\", \"64KiB\", \"1MiB\", a number of bytes, or \"${axis}\""
    })
}

/// `arrival` of an open workload: tasks that arrive at a rate, bounded by one of `duration`, its `tasks` or
/// the workload's `tasks`.
fn arrival() -> Value {
    let count = |min: u64| json!({ "anyOf": [{ "type": "integer", "minimum": min }, { "type": "string", "pattern": REFERENCE }] });
    json!({
        "type": "object",
        "description": "An open workload: task i is due at its scheduled time and never starts before; latency counts from then (docs/experiment-format.md)",
        "required": ["rate"],
        "additionalProperties": false,
        "properties": {
            "rate": {
                "anyOf": [
                    { "type": "string", "pattern": RATE },
                    { "const": crate::experiment::arrival::SEARCH },
                    { "type": "string", "pattern": REFERENCE }
                ],
                "description": "Tasks per second, minute or hour: \"500/s\", \"3000/min\", \"100/h\", \"${axis}\", or \"search\": the highest rate within `objective`"
            },
            "objective": {
                "type": "object",
                "description": "With rate = \"search\": the response-time percentiles every probe must keep within",
                "additionalProperties": false,
                "minProperties": 1,
                "properties": crate::search::PERCENTILES.iter().map(|p| (p.to_string(), duration())).collect::<serde_json::Map<_, _>>()
            },
            "search": {
                "type": "object",
                "description": "With rate = \"search\": from `lowest` (1/s) double up to `highest` (1000000/s), bisect to `precision` (5%), probe the rate found `confirm` (2) more times",
                "additionalProperties": false,
                "properties": {
                    "lowest": { "anyOf": [{ "type": "string", "pattern": RATE }, { "type": "string", "pattern": REFERENCE }] },
                    "highest": { "anyOf": [{ "type": "string", "pattern": RATE }, { "type": "string", "pattern": REFERENCE }] },
                    "precision": { "type": "string", "pattern": "^\\s*[0-9.]+\\s*%\\s*$|\\$\\{" },
                    "confirm": { "anyOf": [{ "type": "integer", "minimum": 0, "maximum": crate::experiment::arrival::MAX_CONFIRM }, { "type": "string", "pattern": REFERENCE }] }
                }
            },
            "duration": { "allOf": [duration()], "description": "How long tasks arrive: tasks = rate x duration" },
            "tasks": { "allOf": [count(0)], "description": "How many tasks arrive" },
            "process": {
                "anyOf": [{ "enum": crate::experiment::arrival::PROCESSES }, { "type": "string", "pattern": REFERENCE }],
                "description": "constant (evenly spaced, the default) or poisson (exponential gaps from the experiment's seed)"
            },
            "max_queue": { "allOf": [count(1)], "description": "A task that finds this many due-but-unstarted tasks ahead of it is dropped: counted, never run" }
        }
    })
}

fn step(kind: &str, description: &str, value: &Value) -> Value {
    json!({
        "type": "object",
        "description": description,
        "properties": { kind: value },
        "required": [kind],
        "additionalProperties": false
    })
}

fn option_schema(option: &OptionSpec) -> Value {
    let mut schema = match &option.kind {
        OptionKind::Bool => json!({ "type": "boolean" }),
        OptionKind::Integer { min } => json!({ "type": "integer", "minimum": min }),
        OptionKind::Choice { choices } => json!({ "type": "string", "enum": choices }),
    };
    schema["description"] = Value::String(option.description.clone());
    if !option.default.is_null() {
        schema["default"] = option.default.clone();
    }
    schema
}

/// A program: an `exec` step or a hook. An array runs directly, a string with `sh -c`.
fn program(description: &str, per_task: bool) -> Value {
    let vars = if per_task { "; `${task}` and `${worker}` are the task's and the worker's index" } else { "" };
    let command = json!({
        "anyOf": [
            { "type": "array", "items": { "type": ["string", "integer", "number", "boolean"] }, "minItems": 1, "description": "The program and its arguments, run directly" },
            { "type": "string", "minLength": 1, "description": "A command line, run with `sh -c`" }
        ]
    });
    json!({
        "description": format!("{description}{vars}"),
        "anyOf": [
            command,
            {
                "type": "object",
                "required": ["command"],
                "additionalProperties": false,
                "properties": {
                    "command": command,
                    "env": { "type": "object", "additionalProperties": { "type": ["string", "integer", "number", "boolean"] }, "description": "Variables added to its environment" },
                    "cwd": { "type": "string", "description": "The folder it runs in, relative to this file (default: this file's folder)" },
                    "stdin": { "type": "string", "description": "A file to read as its standard input, relative to this file (default: empty)" },
                    "output": { "enum": ["hash", "ignore"], "default": "hash", "description": "hash: the step yields the XXH3-64 of its stdout; ignore: its exit status" },
                    "ok": { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 255 }, "minItems": 1, "default": [0], "description": "Exit statuses that count as success" }
                }
            }
        ]
    })
}

/// The schema, with the options of every executor in `registry`.
pub(crate) fn schema(registry: &Registry) -> Value {
    let scalar = json!({ "type": ["string", "integer", "number", "boolean"] });
    let mut executors = serde_json::Map::new();
    for (name, info) in registry.iter() {
        let properties: serde_json::Map<String, Value> =
            info.options.iter().map(|o| (o.name.clone(), option_schema(o))).collect();
        executors.insert(
            name.to_owned(),
            json!({ "type": "object", "description": info.description, "properties": properties, "additionalProperties": false }),
        );
    }
    let redis_command = json!({ "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "A Redis command and its arguments, such as [\"INCR\", \"key-${task}\"]" });
    let steps = json!([
        step("compute", "Deterministic CPU work: hash SIZE bytes of seeded data", &size()),
        step("sleep", "A blocking wait standing in for a slow remote call", &duration()),
        step(
            "read_file",
            "Read one of `files` fixture files of `size` bytes",
            &json!({
                "type": "object",
                "properties": { "size": size(), "files": { "anyOf": [{ "type": "integer", "minimum": 1, "maximum": crate::experiment::MAX_FIXTURE_FILES }, { "type": "string", "pattern": REFERENCE }], "default": 1 } },
                "required": ["size"],
                "additionalProperties": false
            })
        ),
        step(
            "net",
            "A TCP round trip to the harness's loopback server (the service `loopback`)",
            &json!({
                "type": "object",
                "properties": {
                    "request": size(),
                    "response": size(),
                    "delay": duration(),
                    "connect": { "enum": ["reuse", "per_request"], "default": "reuse" }
                },
                "additionalProperties": false
            })
        ),
        step(
            "shared",
            "Add one to a counter shared by every task: read it, wait `hold`, write it plus one, under a lock unless `lock = \"none\"`",
            &json!({
                "type": "object",
                "properties": {
                    "hold": duration(),
                    "store": { "enum": ["redis"], "description": "Keep the counter in Redis (default: where the executor keeps it, memory or a file)" },
                    "url": { "type": "string", "pattern": "^redis://", "description": "The Redis server; default: the service `redis`" },
                    "lock": { "enum": ["exclusive", "none"], "default": "exclusive", "description": "Without a lock, lost increments are counted in shared_lost" }
                },
                "additionalProperties": false
            })
        ),
        step("alloc", "Allocate and touch SIZE bytes, freed when the step ends", &size()),
        step("exec", "Run a program and wait for it to end", &program("A program run by every task", true)),
        step(
            "call",
            "Call a function of a step library of [libraries]",
            &json!({
                "type": "object",
                "required": ["function"],
                "additionalProperties": false,
                "properties": {
                    "function": { "type": "string", "pattern": "^[^:]+::[^:]+$", "description": "LIBRARY::FUNCTION" },
                    "arg": { "type": ["string", "integer", "number", "boolean"], "default": "", "description": "The function's argument; `${task}` and `${worker}` are the task's and the worker's index" }
                }
            })
        ),
        step(
            "http",
            "One HTTP/1.1 request, keep-alive unless `connect = \"per_request\"`; `${task}` in the URL is the task's number",
            &json!({
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": { "type": "string", "pattern": "^http://", "description": "`${services.NAME.port}` is a service's port; the harness's loopback server answers http://127.0.0.1:${services.loopback.port}/wait/DURATION/bytes/SIZE" },
                    "method": { "type": "string", "pattern": "^[A-Z]+$", "default": "GET" },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                    "body": { "anyOf": [{ "type": "string", "description": "The body as written" }, { "type": "object", "required": ["size"], "properties": { "size": size() }, "additionalProperties": false, "description": "SIZE bytes of seeded data" }] },
                    "expect": { "type": "array", "items": { "type": "integer", "minimum": 100, "maximum": 599 }, "minItems": 1, "description": "The statuses that count as success; default: any 2xx" },
                    "checksum": { "enum": ["body", "status"], "default": "body" },
                    "connect": { "enum": ["reuse", "per_request"], "default": "reuse" }
                },
                "additionalProperties": false
            })
        ),
        step(
            "redis",
            "One Redis command, `${task}` in its arguments; the reply is folded into the checksum",
            &json!({
                "anyOf": [
                    redis_command.clone(),
                    {
                        "type": "object",
                        "required": ["command"],
                        "properties": {
                            "command": redis_command,
                            "url": { "type": "string", "pattern": "^redis://", "description": "Default: the service `redis`" },
                            "connect": { "enum": ["reuse", "per_request", "shared"], "default": "reuse", "description": "A connection per task slot (a worker, or a task in flight of an event loop), one per command, or one for every task in flight, pipelined (executors that multiplex only)" }
                        },
                        "additionalProperties": false
                    }
                ]
            })
        ),
    ]);
    let metric = json!({
        "type": "object",
        "required": ["better"],
        "additionalProperties": false,
        "properties": {
            "regex": { "type": "string", "description": "A regular expression with one group around the number; every match counts (not with from = \"call\")" },
            "from": { "enum": ["stdout", "stderr", "call"], "default": "stdout", "description": "Which output of the workload's exec steps to read, or call: what its call steps' functions record" },
            "aggregate": { "enum": ["mean", "sum", "min", "max", "last"], "default": "mean", "description": "How the numbers of a run's tasks make the run's value" },
            "better": { "enum": ["higher", "lower"], "description": "Which way is better, for `harness compare`" }
        }
    });
    let command = json!({
        "anyOf": [
            { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "A program and its arguments, run without a shell" },
            { "type": "string", "minLength": 1, "description": "A shell command, run with `sh -c`" }
        ]
    });
    let probe = |kind: &str, description: &str| json!({ "type": "object", "properties": { kind: { "type": "string" } }, "required": [kind], "additionalProperties": false, "description": description });
    // Apart, to keep the big `json!` below the macro recursion limit.
    let service_files = json!({
        "type": "object",
        "description": "Files written into the service's own folder (${dir}) before its command starts, named in it by ${file.NAME}; ${port}, ${services.NAME.port} and ${dir} in their content are replaced",
        "additionalProperties": {
            "oneOf": [
                { "type": "object", "additionalProperties": false, "required": ["template"], "properties": { "template": { "type": "string", "description": "A file, relative to the experiment file" } } },
                { "type": "object", "additionalProperties": false, "required": ["text"], "properties": { "text": { "type": "string", "description": "The file's content" } } }
            ]
        }
    });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://harness.invalid/experiment-v1.json",
        "title": "harness experiment file (format v1)",
        "description": "A declarative experiment: workloads, a matrix of parameters, executor options. Reference: docs/experiment-format.md",
        "type": "object",
        "required": ["experiment", "matrix"],
        "additionalProperties": false,
        "properties": {
            "experiment": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": false,
                "properties": {
                    "name": { "type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9_.-]*$", "maxLength": crate::experiment::MAX_NAME, "description": "Names the result folder results/<name>/" },
                    "description": { "type": "string" },
                    "repetitions": repetitions(),
                    "warmup": { "type": "integer", "minimum": 0, "maximum": crate::experiment::MAX_COUNT, "default": 1, "description": "Discarded runs per cell, before the measured ones" },
                    "timeout": { "type": "string", "pattern": DURATION, "default": "5m", "description": "Per run; the run's whole process tree is killed when it passes" },
                    "seed": { "type": "integer", "minimum": 0, "default": 0, "description": "Seeds data and the random order" },
                    "order": { "enum": ["interleaved", "sequential", "random"], "default": "interleaved" },
                    "memory_limit": { "allOf": [size()], "description": "Per run, for its whole process tree where the harness can make a cgroup; a run past it is out_of_memory" },
                    "setup": program("Run once before the first run; if it fails, nothing runs", false),
                    "cleanup": program("Run once after the last run, also after a failure or Ctrl-C", false)
                }
            },
            "workloads": {
                "type": "object",
                "description": "Named workloads: every task of a run does the same steps",
                "additionalProperties": {
                    "type": "object",
                    "required": ["steps"],
                    "anyOf": [{ "required": ["tasks"] }, { "required": ["arrival"] }],
                    "additionalProperties": false,
                    "properties": {
                        "description": { "type": "string" },
                        "tasks": { "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string", "pattern": "^\\s*[0-9]+\\s*$" }, { "type": "string", "pattern": REFERENCE }] },
                        "steps": { "type": "array", "items": { "oneOf": steps } },
                        "arrival": arrival(),
                        "prepare": program("Run before each run of the workload, outside the measured time", false),
                        "conclude": program("Run after each run of the workload, outside the measured time", false),
                        "checksum": {
                            "enum": ["warn", "must-agree", "ignore"],
                            "default": "warn",
                            "description": "Whether runs of the same workload must report the same checksum: warn when deterministic steps disagree, fail runs that disagree whatever the steps, or compare none"
                        },
                        "instructions": { "type": "boolean", "default": false, "description": "Run the exec steps' programs under Valgrind's cachegrind and record instructions, d1_misses and ll_misses; see docs/experiment-format.md" },
                        "metrics": {
                            "type": "object",
                            "description": "Custom metrics read from the output of the workload's exec steps: each a column of runs.csv",
                            "propertyNames": { "pattern": "^[a-z][a-z0-9_]*$" },
                            "additionalProperties": metric
                        }
                    }
                }
            },
            "matrix": {
                "type": "object",
                "description": "Axes (lists of values) whose cartesian product is the set of cells; `executor` is required",
                "properties": {
                    "executor": { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                    "workload": { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                    "workers": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": crate::experiment::MAX_WORKERS }, "minItems": 1 },
                    "exclude": {
                        "type": "array",
                        "description": "Remove every cell matching all keys of an entry; a list matches any of its values",
                        "items": { "type": "object", "additionalProperties": { "anyOf": [scalar, { "type": "array", "items": scalar }] } }
                    },
                    "include": {
                        "type": "array",
                        "description": "Extend matching cells or add new ones (GitHub Actions semantics)",
                        "items": { "type": "object", "additionalProperties": scalar }
                    }
                },
                "additionalProperties": { "type": "array", "items": scalar }
            },
            "executors": {
                "type": "object",
                "description": "Options per executor, checked against what the executor declares",
                "properties": executors,
                "additionalProperties": { "type": "object" }
            },
            "services": {
                "type": "object",
                "description": "Programs started for the runs that need them, each on a free loopback port: `${port}` in its own table, `${services.NAME.port}` in workloads. `loopback` is the harness's own server (`${services.loopback.port}`), which no table may name",
                "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$", "not": { "const": "loopback" } },
                "additionalProperties": {
                    "type": "object",
                    "required": ["command"],
                    "additionalProperties": false,
                    "properties": {
                        "command": command,
                        "env": { "type": "object", "additionalProperties": { "type": "string" } },
                        "cwd": { "type": "string", "description": "Relative to the experiment file" },
                        "ready": {
                            "oneOf": [
                                probe("tcp", "Ready when a TCP connection to HOST:PORT succeeds (the default, on 127.0.0.1:${port})"),
                                probe("http", "Ready when an HTTP GET of the URL gets an answer, whatever its status"),
                                probe("log", "Ready when the service's log holds this text")
                            ]
                        },
                        "ready_timeout": { "type": "string", "pattern": DURATION, "default": "30s" },
                        "scope": { "enum": ["experiment", "cell", "run"], "default": "experiment", "description": "One server for the experiment, a fresh one per cell, or per run" },
                        "files": service_files
                    }
                }
            },
            "plugins": {
                "type": "object",
                "description": "More executors: name = path of the plugin library, relative to this file",
                "additionalProperties": { "type": "string" }
            },
            "libraries": {
                "type": "object",
                "description": "Step libraries for call steps: name = path of the library, relative to this file (docs/writing-a-step-library.md)",
                "additionalProperties": { "type": "string" }
            },
            "ci": ci(),
            "charts": {
                "type": "array",
                "description": "Charts besides the default ones, drawn into charts/ of every result (docs/reports.md)",
                "items": {
                    "type": "object",
                    "required": ["x", "y"],
                    "additionalProperties": false,
                    "properties": {
                        "title": { "type": "string" },
                        "x": { "type": "string", "description": "A column: an axis of [matrix] or a key `include` adds" },
                        "y": {
                            "anyOf": [
                                { "enum": *crate::metrics::CHARTABLE },
                                { "type": "string", "pattern": "^service_.+_(cpu_s|peak_memory_bytes)$", "description": "A service's CPU time or peak memory" },
                                { "type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "A custom metric" }
                            ],
                            "description": "What to draw: a metric of runs.csv, cpu_s, efficiency, speedup, a service's column, or a custom metric"
                        },
                        "series": { "type": "string", "description": "A column: one series per value" },
                        "facet": { "type": "string", "description": "A column: one panel per value" },
                        "filter": { "type": "object", "description": "Only cells with these values (a list: any of them)", "additionalProperties": { "anyOf": [scalar, { "type": "array", "items": scalar }] } },
                        "kind": { "enum": ["line", "bar"], "description": "Default: line over a numeric x, bars otherwise" },
                        "log_x": { "type": "boolean", "description": "Default: logarithmic over positive numbers whose largest is 16 times the smallest or more" },
                        "log_y": { "type": "boolean", "description": "Default: logarithmic when the values span more than two decades" }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::schema;
    use crate::experiment::{KINDS, parse_step};
    use crate::plugin::Registry;

    /// A step of every kind, with every key its table takes.
    const EXAMPLES: &[&str] = &[
        r#"{ compute = "64KiB" }"#,
        r#"{ sleep = "10ms" }"#,
        r#"{ read_file = { size = "4KiB", files = 2 } }"#,
        r#"{ net = { request = "64B", response = "1KiB", delay = "1ms", connect = "per_request" } }"#,
        r#"{ shared = { hold = "1ms", store = "redis", url = "redis://127.0.0.1:6379/", lock = "none" } }"#,
        r#"{ alloc = "1MiB" }"#,
        r#"{ exec = { command = ["true"], env = { A = "1" }, cwd = ".", stdin = "in", output = "ignore", ok = [0] } }"#,
        r#"{ call = { function = "mine::f", arg = "${task}" } }"#,
        r#"{ redis = { command = ["INCR", "k-${task}"], url = "redis://127.0.0.1:6379/", connect = "shared" } }"#,
        r#"{ http = { url = "http://127.0.0.1:1/", method = "POST", headers = { A = "b" }, body = "x", expect = [200], checksum = "status", connect = "per_request" } }"#,
    ];

    /// The step kinds of the protocol: the tags of the SDK's `Step`, which serde lists when a tag is unknown.
    fn protocol_kinds() -> Vec<String> {
        let error = serde_json::from_str::<harness_sdk::protocol::Step>(r#"{"step": "?"}"#).unwrap_err().to_string();
        let (_, expected) = error.split_once("expected one of").expect("serde lists the tags");
        expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    /// The keys of the table form of a step's value in the schema: its `properties`, or those of a form of
    /// its `anyOf`.
    fn keys(value: &Value) -> BTreeSet<String> {
        let forms = value["anyOf"].as_array().cloned().unwrap_or_else(|| vec![value.clone()]);
        forms.iter().filter_map(|form| form["properties"].as_object()).flat_map(|p| p.keys().cloned()).collect()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|&k| k.to_owned()).collect()
    }

    #[test]
    fn the_schema_the_grammar_and_the_protocol_have_the_same_step_kinds_with_the_same_keys() {
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(protocol_kinds(), names, "the protocol's step kinds and the grammar's");
        let schema = schema(&Registry::default());
        let steps = schema["properties"]["workloads"]["additionalProperties"]["properties"]["steps"]["items"]["oneOf"]
            .as_array()
            .expect("the steps' schemas");
        let described: Vec<&str> = steps.iter().filter_map(|s| s["required"][0].as_str()).collect();
        assert_eq!(set(&described), set(&names), "the schema's step kinds and the grammar's");
        assert_eq!(described.len(), names.len(), "one schema per step kind");
        for kind in KINDS {
            let step = steps.iter().find(|s| s["required"][0] == kind.name).expect("described");
            assert_eq!(keys(&step["properties"][kind.name]), set(kind.keys), "the keys of `{}`", kind.name);
        }
    }

    #[test]
    fn a_step_of_every_kind_with_every_key_parses_into_its_kind() {
        let parsed: Vec<&str> = EXAMPLES
            .iter()
            .map(|example| {
                let value = &toml::from_str::<toml::Table>(&format!("s = {example}")).expect("TOML")["s"];
                let (name, arg) = value.as_table().and_then(|t| t.iter().next()).expect("a kind");
                let kind = KINDS.iter().find(|k| k.name == name).expect("a kind of the grammar");
                let keys: Vec<&str> =
                    arg.as_table().map(|t| t.keys().map(String::as_str).collect()).unwrap_or_default();
                assert_eq!(set(&keys), set(kind.keys), "the example of `{name}` has every key of its kind");
                let step = parse_step(value).unwrap_or_else(|e| panic!("{example}: {e:?}"));
                assert_eq!(step.kind(), name);
                kind.name
            })
            .collect();
        assert_eq!(parsed, KINDS.iter().map(|k| k.name).collect::<Vec<_>>(), "one example per kind, in order");
    }
}
