//! The anchor of the `threaded` executor in `scripts/bench-overhead.sh`: a plain rayon pool of `THREADS`
//! threads runs `TASKS` tasks, each sleeping `SLEEP_NS` nanoseconds. No harness, no plugin, no per-task clock
//! or histogram.
//!
//! ```sh
//! cargo run --release --example plain_rayon -- THREADS TASKS SLEEP_NS
//! ```
//!
//! Prints `run_s`: from the first task's start to the last one's end, with every thread of the pool
//! started before, as the executor's `run_s` covers.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon::prelude::*;

fn main() {
    let args: Vec<u64> =
        std::env::args().skip(1).map(|s| s.parse().unwrap_or_else(|_| panic!("`{s}` is not a number"))).collect();
    let [threads, tasks, sleep_ns] = args.as_slice() else {
        eprintln!("usage: plain_rayon THREADS TASKS SLEEP_NS");
        std::process::exit(2);
    };
    let sleep = Duration::from_nanos(*sleep_ns);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(*threads as usize).build().expect("a pool");
    pool.broadcast(|_| ());
    let start = OnceLock::new();
    pool.install(|| {
        (0..*tasks).into_par_iter().for_each(|_| {
            start.get_or_init(Instant::now);
            std::thread::sleep(sleep);
        });
    });
    println!("run_s {:.9}", start.get().map_or(0.0, |start| start.elapsed().as_secs_f64()));
}
