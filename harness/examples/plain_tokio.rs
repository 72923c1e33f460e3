//! The anchor of the `async` executor in `scripts/bench-overhead.sh`: a plain tokio program that spawns
//! `TASKS` tasks on a `current_thread` runtime, each sleeping `SLEEP_NS` nanoseconds (none for 0), and joins
//! them all. No harness, no plugin, no per-task clock or histogram.
//!
//! ```sh
//! cargo run --release --example plain_tokio -- TASKS SLEEP_NS
//! ```
//!
//! Prints `run_s`: from the first spawn to the last join, what the executor's `run_s` covers.

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<u64> =
        std::env::args().skip(1).map(|s| s.parse().unwrap_or_else(|_| panic!("`{s}` is not a number"))).collect();
    let &[tasks, sleep_ns] = args.as_slice() else {
        eprintln!("usage: plain_tokio TASKS SLEEP_NS");
        std::process::exit(2);
    };
    let sleep = Duration::from_nanos(sleep_ns);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let run = runtime.block_on(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                tokio::spawn(async move {
                    if !sleep.is_zero() {
                        tokio::time::sleep(sleep).await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("no task panics");
        }
        start.elapsed()
    });
    println!("run_s {:.9}", run.as_secs_f64());
}
