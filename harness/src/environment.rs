//! `environment.json`: what a reader needs to judge where and how results were measured.

use std::time::SystemTime;

use serde_json::json;

use crate::experiment::Experiment;
use crate::run::cgroup::Accounting;

/// The harness version, git commit and compiler it was built from.
pub fn build_info() -> serde_json::Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("HARNESS_GIT_COMMIT"),
        "rustc": env!("HARNESS_RUSTC_VERSION"),
    })
}

/// Describes the machine, the build and the experiment's settings.
pub fn collect(experiment: &Experiment, started: SystemTime, accounting: &Accounting) -> serde_json::Value {
    let mut executors = serde_json::Map::new();
    for cell in &experiment.cells {
        let e = &cell.executor;
        executors
            .entry(e.name.clone())
            .or_insert_with(|| json!({ "version": e.version, "abi_version": e.abi_version, "path": e.path }));
    }
    json!({
        "harness": build_info(),
        "started": humantime::format_rfc3339_seconds(started).to_string(),
        "command": std::env::args().collect::<Vec<_>>(),
        "experiment": {
            "name": experiment.name,
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
        "load_average_at_start": load_average(),
        "executors": executors,
        "os": os(),
        "hostname": read_trimmed("/proc/sys/kernel/hostname"),
        "cpu": {
            "model": cpu_model(),
            "logical_cpus": std::thread::available_parallelism().map(usize::from).ok(),
        },
        "memory_bytes": mem_total(),
    })
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn os() -> serde_json::Value {
    // SAFETY: uname fills a plain struct.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a utsname.
    if unsafe { libc::uname(&raw mut uts) } != 0 {
        return json!({ "family": std::env::consts::OS });
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    json!({
        "family": std::env::consts::OS,
        "name": field(&uts.sysname),
        "kernel": field(&uts.release),
        "kernel_build": field(&uts.version),
        "machine": field(&uts.machine),
        "distribution": os_release(),
    })
}

fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned())
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned())
}

fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
