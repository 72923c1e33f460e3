//! `environment.json` surveyed: what a reader needs to judge where and how results were measured (the
//! machine, the build, the experiment). This module builds the document; [`crate::results::environment`] reads and writes it.

use std::time::SystemTime;

use serde_json::json;

use crate::experiment::Experiment;
use crate::machine;
use crate::results::{Environment, file_hash};
use crate::run::Shard;
use crate::run::cgroup::Accounting;
use crate::run::libraries::Libraries;

/// Notes in `dir/environment.json` that the run was resumed at `started`; returns the updated document.
pub(crate) fn record_resume(dir: &std::path::Path, started: SystemTime) -> std::io::Result<Environment> {
    let mut environment = Environment::read(dir)?;
    environment.resumed.push(humantime::format_rfc3339_seconds(started).to_string());
    environment.write(dir)?;
    Ok(environment)
}

/// The harness version, git commit and compiler it was built from.
pub(crate) fn build_info() -> serde_json::Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("HARNESS_GIT_COMMIT"),
        "rustc": env!("HARNESS_RUSTC_VERSION"),
    })
}

/// Describes the machine, the build and the experiment's settings.
pub(crate) fn collect(
    experiment: &Experiment,
    started: SystemTime,
    shard: Option<Shard>,
    accounting: &Accounting,
    libraries: &Libraries,
) -> Environment {
    let mut executors = serde_json::Map::new();
    for cell in &experiment.cells {
        let e = &cell.executor;
        // All of what the harness knows of it, so that a folder read back needs no library.
        executors.entry(e.name.clone()).or_insert_with(|| serde_json::to_value(&**e).expect("serializable"));
    }
    // Every service the runs may need, the loopback server included: what was started, on which port.
    let services: Vec<serde_json::Value> = experiment
        .services
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "port": s.port,
                "command": std::iter::once(&s.command.program).chain(&s.command.args).collect::<Vec<_>>(),
                "ready": s.ready.to_string(),
                "scope": s.scope.name(),
                "builtin": s.loopback.is_some(),
                "cpu_method": accounting.service_cpu().as_str(),
                // The cgroup's peak, or the processes' peak resident sets from `/proc`.
                "memory_method": match accounting.method() {
                    crate::run::cgroup::Method::Rusage => "proc",
                    method => method.as_str(),
                },
            })
        })
        .collect();
    let document = json!({
        "harness": build_info(),
        "started": humantime::format_rfc3339_seconds(started).to_string(),
        "command": std::env::args().collect::<Vec<_>>(),
        "shard": shard.map(|s| s.to_string()),
        "experiment": {
            "name": experiment.name,
            "file_hash": file_hash(&experiment.source),
            "file": experiment.path,
            "seed": experiment.seed,
            "repetitions": experiment.repetitions,
            "warmup": experiment.warmup,
            "timeout_s": experiment.timeout.as_secs_f64(),
            "order": experiment.order,
            "memory_limit_bytes": experiment.memory_limit,
            "cells": experiment.cells.len(),
        },
        "peak_memory": accounting.describe(),
        "executors": executors,
        "services": services,
        "libraries": libraries
            .all()
            .iter()
            .map(|l| json!({ "name": l.name, "path": l.path, "hash": l.hash }))
            .collect::<Vec<_>>(),
        "os": machine::os(),
        "hostname": machine::read_trimmed("/proc/sys/kernel/hostname"),
        "cpu": {
            "model": machine::cpu_model(),
            "logical_cpus": machine::logical_cpus(),
        },
        "memory_bytes": machine::mem_total(),
    });
    Environment::from_value(document).expect("the document has the fields of an environment")
}
