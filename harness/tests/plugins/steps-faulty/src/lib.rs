//! A step library for the tests: functions that fail, panic, record a metric nobody declared or a number
//! given as text, return their process's id, and one that counts its calls in its worker's state.

use harness_sdk::steplib::{Context, State};

/// A worker's count of its calls.
struct Calls(u64);

#[allow(clippy::unnecessary_wraps)] // the signature of every init function
fn make_state(_worker: u32, _seed: u64) -> harness_sdk::Result<State> {
    Ok(Box::new(Calls(0)))
}

/// Fails with `arg` as its message.
fn fails(_cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
    Err(arg.to_owned().into())
}

/// Panics with `arg` as its message.
fn panics(_cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
    panic!("{arg}")
}

/// Records `arg` as a metric name.
#[allow(clippy::unnecessary_wraps)] // the signature of every step function
fn records(cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
    cx.record(arg, 1.0);
    Ok(1)
}

/// Records `arg`, read as a number (`NaN`, `inf` and `1e400` too), for the metric `value`; returns 1.
fn measures(cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
    cx.record("value", arg.parse::<f64>().map_err(|e| format!("`{arg}`: {e}"))?);
    Ok(1)
}

/// Returns the id of the process calling it: a value no two runs share.
#[allow(clippy::unnecessary_wraps)] // the signature of every step function
fn pid(_cx: &mut Context<'_>, _arg: &str) -> harness_sdk::Result<u64> {
    Ok(u64::from(std::process::id()))
}

/// Counts its calls in the worker's state; records the count as `calls`, returns 1. Takes 2 ms, so that
/// every worker of a pool gets some of the tasks.
fn counts(cx: &mut Context<'_>, _arg: &str) -> harness_sdk::Result<u64> {
    std::thread::sleep(std::time::Duration::from_millis(2));
    let calls = cx.state::<Calls>().ok_or("no state")?;
    calls.0 += 1;
    let n = calls.0;
    cx.record("calls", n as f64);
    Ok(1)
}

harness_sdk::export_steps!(init = make_state, functions = [fails, panics, records, measures, pid, counts]);
