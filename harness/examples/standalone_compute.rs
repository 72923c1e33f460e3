//! The work of a `compute` workload, timed by a program of its own: no harness, no plugin, no child
//! process, no per-task clock or histogram. `docs/measurement.md` compares its time with the `run_s` the
//! harness reports for the same work (`experiments/accuracy.toml`).
//!
//! ```sh
//! cargo run --release --example standalone_compute -- TASKS BYTES SEED REPETITIONS
//! ```
//!
//! Prints the median time of the repetitions and the checksum, which must equal the `checksum` column of
//! `runs.csv`: the same bytes were hashed with the same keys.

use std::time::Instant;

use harness_sdk::workload::{fold, seeded_bytes, task_seed};
use xxhash_rust::xxh3::xxh3_64_with_seed;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tasks, bytes, seed, repetitions] = args.as_slice() else {
        eprintln!("usage: standalone_compute TASKS BYTES SEED REPETITIONS");
        std::process::exit(2);
    };
    let number = |s: &str| -> u64 { s.parse().unwrap_or_else(|_| panic!("`{s}` is not a number")) };
    let (tasks, bytes, seed, repetitions) = (number(tasks), number(bytes), number(seed), number(repetitions));
    let data = seeded_bytes(seed, bytes as usize);

    let mut times = Vec::new();
    let mut checksum = 0u64;
    for _ in 0..repetitions {
        let start = Instant::now();
        checksum = 0;
        for task in 0..tasks {
            let value = xxh3_64_with_seed(std::hint::black_box(&data), seed ^ task);
            checksum = checksum.wrapping_add(fold(task_seed(task), value));
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        f64::midpoint(times[times.len() / 2 - 1], times[times.len() / 2])
    };
    println!("median_s {median:.9}");
    println!("min_s {:.9}", times[0]);
    println!("checksum {checksum:016x}");
}
