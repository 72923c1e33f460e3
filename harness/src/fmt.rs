//! How the harness writes quantities for people: sizes and durations as experiment files write them, a
//! step as a file would write it, and plain-text tables.

use std::time::Duration;

use harness_sdk::protocol::{Connect, SharedLock, SharedStore, Step};

/// A step as an experiment file would write it: `sleep 10ms`, `compute 256KiB`.
pub(crate) fn describe_step(step: &Step) -> String {
    let d = |nanos: u64| format_duration(Duration::from_nanos(nanos));
    match *step {
        Step::Compute { bytes } => format!("compute {}", format_size(bytes)),
        Step::Sleep { nanos } => format!("sleep {}", d(nanos)),
        Step::ReadFile { size, files } => format!("read_file {} x{files}", format_size(size)),
        Step::Net { request, response, delay_nanos, connect } => {
            let per = if connect == Connect::PerRequest { " per_request" } else { "" };
            format!("net {}/{} delay {}{per}", format_size(request), format_size(response), d(delay_nanos))
        }
        Step::Shared { hold_nanos, ref store, lock } => {
            let store = match store {
                SharedStore::Executor => String::new(),
                SharedStore::Redis { url } => format!(" in {url}"),
            };
            let lock = if lock == SharedLock::None { " unlocked" } else { "" };
            format!("shared hold {}{store}{lock}", d(hold_nanos))
        }
        Step::Alloc { bytes } => format!("alloc {}", format_size(bytes)),
        Step::Exec(ref exec) => format!("exec {}", exec.argv.join(" ")),
        Step::Call(ref call) => format!("call {}({})", call.name, call.arg),
        Step::Redis { ref url, ref command } => format!("redis {} at {url}", command.join(" ")),
        Step::Http(ref request) => {
            let per = if request.connect == Connect::PerRequest { " per_request" } else { "" };
            format!("http {} {}{per}", request.method, request.url)
        }
    }
}

/// `512B`, `64KiB`, `3MiB`; sizes that are not a whole number of a unit stay in bytes.
pub(crate) fn format_size(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Formats a duration the way experiment files write it ("10ms", "1.5s").
pub(crate) fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string().replace(' ', "")
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().enumerate().map(|(i, s)| format!("{s:<w$}", w = widths[i])).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
