//! The built-in executors on real workloads: every step kind, in child processes, against the real
//! loopback server and fixture files. Whatever the model, the same workload gives the same task count,
//! checksum and shared counter.

use std::collections::BTreeMap;

use crate::support;

#[test]
fn every_executor_agrees_on_every_step_kind() {
    let out = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/every_step.toml");
    let result = support::harness().args(["run", "--quiet", "--out"]).arg(out.path()).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(0), "{stderr}");

    let rows = support::read_runs(&out.path().join("every-step/latest/runs.csv"));
    // 4 executors x 2 worker counts x 3 task counts, minus sync with 3 workers: 21 cells, 2 repetitions.
    assert_eq!(rows.len(), 21 * 2);
    let mut checksums: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["tasks"], row["tasks"]);
        let tasks: u64 = row["tasks"].parse().unwrap();
        assert_eq!(row["shared_count"], tasks.to_string(), "the counter lost increments: {row:?}");
        checksums.entry(row["tasks"].clone()).or_default().push((row["executor"].clone(), row["checksum"].clone()));
    }
    for (tasks, seen) in &checksums {
        let first = &seen[0].1;
        assert!(seen.iter().all(|(_, c)| c == first), "checksums differ for {tasks} tasks: {seen:?}");
    }
    // Different task counts give different checksums: the checksum is not a constant.
    let distinct: std::collections::BTreeSet<_> = checksums.values().map(|v| v[0].1.clone()).collect();
    assert_eq!(distinct.len(), 3);
}

#[test]
fn options_from_include_reach_the_executor() {
    let file = support::root().join("harness/tests/fixtures/good/every_step.toml");
    let plan = support::harness().arg("plan").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success());
    let async_multi =
        text.lines().filter(|l| l.contains("flavor=multi_thread") && l.contains("offload_cpu=true")).count();
    assert_eq!(async_multi, 3, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("batch=7")).count(), 3, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("concurrency=2")).count(), 3, "{text}");
}
