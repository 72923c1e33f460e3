//! The `net` step against the harness's loopback server: every round trip waits for the server's answer,
//! and the server's accept queue holds every connection a run opens at once.

use crate::support;

fn run(experiment: &str) -> (tempfile::TempDir, Vec<std::collections::HashMap<String, String>>, String) {
    let (out, _, rows, stderr) = support::run_inline("net", experiment);
    (out, rows, stderr)
}

#[test]
fn a_round_trip_without_a_response_still_waits_for_the_server() {
    // The documented defaults: no request body and no response body. The server's delay must still be
    // waited: the answer's header comes after it.
    let (_out, rows, stderr) = run(r#"
        [experiment]
        name = "net"
        repetitions = 1
        warmup = 0
        [workloads.call]
        tasks = 4
        steps = [{ net = { delay = "20ms" } }]
        [matrix]
        executor = ["sync", "threaded", "async", "multiprocess"]
        workers = [2]
    "#);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        // A physical bound, not a timing threshold: no task can end before the server's 20 ms delay.
        let p50: f64 = row["latency_p50_s"].parse().unwrap();
        assert!(p50 >= 0.020, "{}: the median task took {p50} s, less than the server's delay", row["executor"]);
    }
    assert!(!stderr.contains("ended early"), "{stderr}");
}

#[test]
fn more_connections_than_a_default_accept_queue_complete_without_overflow() {
    let tasks = 1000;
    // Where the system caps accept queues below the run's connections, overflows are the system's doing.
    let cap: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    let (_out, rows, stderr) = run(&format!(
        r#"
        [experiment]
        name = "net"
        repetitions = 2
        warmup = 0
        [workloads.fan_out]
        tasks = {tasks}
        steps = [{{ net = {{ delay = "50ms" }} }}]
        [matrix]
        executor = ["async"]
    "#
    ));
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        if cap >= tasks {
            assert_eq!(row["listen_overflows"], "0", "{row:?}\n{stderr}");
        } else {
            assert!(stderr.contains("net.core.somaxconn"), "{stderr}");
        }
    }
}

#[test]
fn cells_without_net_steps_leave_the_overflow_column_blank() {
    let (_out, rows, _) = run(r#"
        [experiment]
        name = "net"
        repetitions = 1
        warmup = 0
        [workloads.nap]
        tasks = 2
        steps = [{ sleep = "1ms" }]
        [matrix]
        executor = ["sync"]
    "#);
    assert_eq!(rows[0]["listen_overflows"], "");
}
