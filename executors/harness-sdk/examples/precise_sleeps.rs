//! Times `timer::sleep_precise` with many tasks waiting at once: `cargo run --release -p harness-sdk
//! --features tokio --example precise_sleeps -- [tasks] [micros] [runs]` prints, per run, the median and
//! largest lateness of a task's wake over its deadline, in microseconds.

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let tasks = args.next().unwrap_or(200);
    let micros = args.next().unwrap_or(100);
    let runs = args.next().unwrap_or(5);
    let global = std::env::var_os("GLOBAL").is_some();
    for _ in 0..runs {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let mut late: Vec<f64> = runtime.block_on(async {
            let mut handles = Vec::new();
            for i in 0..tasks {
                // As the async executor spawns: a yield to the event loop every 32 tasks.
                if i % 32 == 31 {
                    tokio::task::yield_now().await;
                }
                handles.push(tokio::spawn(async move {
                    let start = Instant::now();
                    if global {
                        harness_sdk::timer::sleep(Duration::from_micros(micros)).await;
                    } else {
                        harness_sdk::timer::sleep_precise(Duration::from_micros(micros)).await;
                    }
                    (start.elapsed().as_secs_f64() - micros as f64 / 1e6) * 1e6
                }));
            }
            let mut late = Vec::new();
            for handle in handles {
                late.push(handle.await.expect("a task"));
            }
            late
        });
        late.sort_by(f64::total_cmp);
        println!("median {:.1} us late, max {:.1} us late", late[late.len() / 2], late[late.len() - 1]);
    }
}
