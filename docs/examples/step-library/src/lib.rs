//! Two functions of our own as harness steps: sorting numbers made from the seed, and parsing a line of
//! numbers. Each worker keeps a buffer between its calls.

use harness_sdk::steplib::{Context, State};

/// What a worker keeps between calls: the buffer it sorts in.
struct Scratch {
    numbers: Vec<u64>,
}

/// Makes a worker's state, once, before its first call.
fn make_scratch(_worker: u32, _seed: u64) -> harness_sdk::Result<State> {
    Ok(Box::new(Scratch { numbers: Vec::new() }))
}

/// Sorts `arg` numbers made from the seed and the task, and returns a hash of them in order. Records
/// where the median falls, as a fraction of the range, for the custom metric `median_fraction`.
fn sort(cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
    let count: usize = arg.trim().parse().map_err(|_| format!("`{arg}` is not a count"))?;
    let mut x = (cx.seed ^ cx.task.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    let scratch = cx.state::<Scratch>().ok_or("the worker has no scratch buffer")?;
    scratch.numbers.clear();
    for _ in 0..count {
        // xorshift64: the same numbers on every machine.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        scratch.numbers.push(x);
    }
    scratch.numbers.sort_unstable();
    let hash = scratch.numbers.iter().fold(0u64, |acc, n| acc.rotate_left(5) ^ n);
    let median = scratch.numbers.get(count / 2).copied().unwrap_or(0);
    cx.record("median_fraction", median as f64 / u64::MAX as f64);
    Ok(hash)
}

/// Parses `arg`, numbers separated by commas, and returns their sum.
fn parse_sum(_cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
    let mut sum = 0u64;
    for word in arg.split(',') {
        let n: u64 = word.trim().parse().map_err(|_| format!("`{word}` is not a number"))?;
        sum = sum.wrapping_add(n);
    }
    Ok(sum)
}

harness_sdk::export_steps!(init = make_scratch, functions = [sort, parse_sum]);
