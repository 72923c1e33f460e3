//! `environment.json`: what a reader needs to judge where and how results were measured.

use std::time::SystemTime;

use serde_json::json;

use crate::experiment::Experiment;
use crate::run::Shard;
use crate::run::cgroup::Accounting;

/// Identifies an experiment file's exact text: shards and resumed runs must all come from the same one.
pub fn file_hash(source: &str) -> String {
    format!("xxh3-128:{:032x}", xxhash_rust::xxh3::xxh3_128(source.as_bytes()))
}

/// The `environment.json` of result folder `dir`; `Null` when it is missing or unreadable, so that what
/// is read from it falls back to defaults.
pub fn read(dir: &std::path::Path) -> serde_json::Value {
    std::fs::read(dir.join("environment.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Notes in `dir/environment.json` that the run was resumed at `started`; returns the updated document.
pub fn record_resume(dir: &std::path::Path, started: SystemTime) -> std::io::Result<serde_json::Value> {
    let path = dir.join("environment.json");
    let mut environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path)?).map_err(std::io::Error::other)?;
    let when = humantime::format_rfc3339_seconds(started).to_string();
    match environment.get_mut("resumed").and_then(serde_json::Value::as_array_mut) {
        Some(list) => list.push(when.into()),
        None => environment["resumed"] = json!([when]),
    }
    crate::results::write_environment(dir, &environment)?;
    Ok(environment)
}

/// The harness version, git commit and compiler it was built from.
pub fn build_info() -> serde_json::Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("HARNESS_GIT_COMMIT"),
        "rustc": env!("HARNESS_RUSTC_VERSION"),
    })
}

/// Describes the machine, the build and the experiment's settings.
pub fn collect(
    experiment: &Experiment,
    started: SystemTime,
    shard: Option<Shard>,
    accounting: &Accounting,
) -> serde_json::Value {
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
        "os": os(),
        "hostname": read_trimmed("/proc/sys/kernel/hostname"),
        "cpu": {
            "model": cpu_model(),
            "logical_cpus": logical_cpus(),
        },
        "memory_bytes": mem_total(),
    })
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> Option<[f64; 3]> {
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

/// How busy the machine was with work other than the experiment's, measured from its start to its end.
#[derive(Debug)]
pub struct LoadMeter {
    start: std::time::Instant,
    machine_busy_s: Option<f64>,
    own_cpu_s: f64,
    load_average: Option<[f64; 3]>,
}

/// What [`LoadMeter::finish`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Load {
    pub elapsed_s: f64,
    pub logical_cpus: u64,
    pub load_average_at_start: Option<[f64; 3]>,
    pub load_average_at_end: Option<[f64; 3]>,
    /// CPU time the rest of the machine used, as a share of all CPUs over the experiment.
    pub others_cpu_share: Option<f64>,
}

/// Other work may use up to this share of the machine before the experiment counts as disturbed.
pub const BUSY_SHARE: f64 = 0.10;

impl LoadMeter {
    pub fn start() -> Self {
        Self {
            start: std::time::Instant::now(),
            machine_busy_s: machine_busy_s(),
            own_cpu_s: own_cpu_s(),
            load_average: load_average(),
        }
    }

    pub fn finish(&self) -> Load {
        let elapsed_s = self.start.elapsed().as_secs_f64();
        let logical_cpus = logical_cpus();
        // Too short an experiment for the kernel's clock-tick counts to say anything.
        let others_cpu_share = match (self.machine_busy_s, machine_busy_s()) {
            (Some(before), Some(after)) if elapsed_s >= 1.0 => {
                let others = (after - before) - (own_cpu_s() - self.own_cpu_s);
                Some((others / (elapsed_s * logical_cpus as f64)).clamp(0.0, 1.0))
            }
            _ => None,
        };
        Load {
            elapsed_s,
            logical_cpus,
            load_average_at_start: self.load_average,
            load_average_at_end: load_average(),
            others_cpu_share,
        }
    }
}

impl Load {
    /// A warning for each sign that other work disturbed the measurements.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let cpus = self.logical_cpus as f64;
        if let Some([one_minute, ..]) = self.load_average_at_start.filter(|l| l[0] > cpus) {
            out.push(format!(
                "the machine was busy when the experiment started: load average {one_minute:.2} on {cpus} CPUs"
            ));
        }
        if let Some(share) = self.others_cpu_share.filter(|s| *s > BUSY_SHARE) {
            out.push(format!(
                "other processes used {:.0}% of the machine's CPU time during the experiment (more than {:.0}%): \
                 timings may be disturbed",
                share * 100.0,
                BUSY_SHARE * 100.0
            ));
        }
        out
    }
}

/// The logical CPUs this process may run on.
pub fn logical_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Seconds of CPU time the whole machine has spent busy since boot (`/proc/stat`).
fn machine_busy_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait. Steal counts: time
    // the hypervisor gave to others is time the experiment did not get.
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| busy as f64 / per_second as f64)
}

/// CPU time of the harness and every child it has reaped (every run so far).
fn own_cpu_s() -> f64 {
    let usage = |who| {
        // SAFETY: rusage is plain data, filled by the kernel.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer.
        unsafe { libc::getrusage(who, &raw mut r) };
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        s(r.ru_utime) + s(r.ru_stime)
    };
    usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN)
}
