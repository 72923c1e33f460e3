//! Waits an executor declares it does not keep precise: the cells that ask for them get a warning.

use crate::support;

#[test]
fn a_wait_shorter_than_the_executor_keeps_precise_is_a_warning_on_its_cells_only() {
    let (_out, dir, rows, _) = support::run_inline(
        "waits",
        r#"
        [experiment]
        name = "waits"
        repetitions = 2
        warmup = 0
        [workloads.sleep]
        tasks = 20
        steps = [{ sleep = "${wait}" }]
        [workloads.hold]
        tasks = 20
        steps = [{ shared = { hold = "${wait}" } }]
        [matrix]
        executor = ["sync", "async"]
        workload = ["sleep", "hold"]
        wait = ["1us", "5ms"]
        workers = [2]
        "#,
    );

    for row in rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        if row["workload"] == "sleep" {
            // A lower bound, not a timing threshold: no task ends before its wait.
            let wait = if row["wait"] == "1us" { 1e-6 } else { 5e-3 };
            let p50: f64 = row["latency_p50_s"].parse().unwrap();
            assert!(p50 >= wait, "{row:?}: the median task took {p50} s, less than its wait");
        }
    }

    // `async` declares the waits it keeps precise, growing with the tasks waiting at once; `sync` declares
    // nothing. A 1 us wait is under what async keeps precise, 5 ms is over it.
    let warnings = std::fs::read_to_string(dir.join("warnings.txt")).unwrap();
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let warned = |text: &str, executor: &str, workload: &str, wait: &str| {
        text.lines().any(|l| {
            l.contains(&format!("executor={executor} workload={workload} wait={wait} ")) && l.contains("keeps precise")
        })
    };
    for text in [&warnings, &report] {
        assert!(warned(text, "async", "sleep", "1us"), "{text}");
        assert!(warned(text, "async", "hold", "1us"), "{text}");
        for (executor, workload, wait) in
            [("async", "sleep", "5ms"), ("async", "hold", "5ms"), ("sync", "sleep", "1us"), ("sync", "hold", "1us")]
        {
            assert!(!warned(text, executor, workload, wait), "{executor} {workload} {wait}: {text}");
        }
    }
    // Twenty tasks in flight sleep at once; one holds the lock at a time.
    assert!(warnings.contains("a sleep wait of 1us is shorter than"), "{warnings}");
    assert!(warnings.contains("with 20 tasks waiting at once"), "{warnings}");
    assert!(warnings.contains("a shared wait of 1us is shorter than"), "{warnings}");
    assert!(warnings.contains("with 1 task waiting at once"), "{warnings}");
}
