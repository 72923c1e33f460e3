//! The anchor of CPU speedup in `scripts/bench-overhead.sh`: `THREADS` plain threads hash `TASKS` times
//! `BYTES` bytes of seeded data, the work of a `compute` step (the same bytes, the same keys), each thread
//! claiming the next task from one counter. No harness, no plugin, no per-task clock or histogram.
//!
//! ```sh
//! cargo run --release --example plain_hashing -- THREADS TASKS BYTES SEED
//! ```
//!
//! Prints `run_s` (from the moment every thread exists to the last one's end) and the checksum, which
//! equals the `checksum` column of `runs.csv` for the same workload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::Instant;

use harness_sdk::workload::{fold, seeded_bytes, task_seed};
use xxhash_rust::xxh3::xxh3_64_with_seed;

fn main() {
    let args: Vec<u64> =
        std::env::args().skip(1).map(|s| s.parse().unwrap_or_else(|_| panic!("`{s}` is not a number"))).collect();
    let &[threads, tasks, bytes, seed] = args.as_slice() else {
        eprintln!("usage: plain_hashing THREADS TASKS BYTES SEED");
        std::process::exit(2);
    };
    let data = seeded_bytes(seed, bytes as usize);
    let next = AtomicU64::new(0);
    let checksum = AtomicU64::new(0);
    let ready = Barrier::new(threads as usize + 1);
    let start = OnceLock::new();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                ready.wait();
                // The first thread to pass the barrier starts the clock.
                start.get_or_init(Instant::now);
                let mut sum = 0u64;
                loop {
                    let task = next.fetch_add(1, Ordering::Relaxed);
                    if task >= tasks {
                        break;
                    }
                    let value = xxh3_64_with_seed(std::hint::black_box(&data), seed ^ task);
                    sum = sum.wrapping_add(fold(task_seed(task), value));
                }
                checksum.fetch_add(sum, Ordering::Relaxed);
            });
        }
        ready.wait();
    });
    println!("run_s {:.9}", start.get().expect("a thread started").elapsed().as_secs_f64());
    println!("checksum {:016x}", checksum.load(Ordering::Relaxed));
}
