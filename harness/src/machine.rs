//! Probes of the machine the harness runs on: its operating system, CPU and memory, and how busy other
//! work kept it while an experiment ran.

use serde_json::json;

use crate::sys;

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

pub(crate) fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

pub(crate) fn os() -> serde_json::Value {
    let Ok(uts) = sys::uname() else {
        return json!({ "family": std::env::consts::OS });
    };
    json!({
        "family": std::env::consts::OS,
        "name": uts.sysname,
        "kernel": uts.release,
        "kernel_build": uts.version,
        "machine": uts.machine,
        "distribution": os_release(),
    })
}

pub(crate) fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned())
}

pub(crate) fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned())
}

pub(crate) fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// How busy the machine was with work other than the experiment's, measured from its start to its end.
#[derive(Debug)]
pub(crate) struct LoadMeter {
    start: std::time::Instant,
    machine_busy_s: Option<f64>,
    own_cpu_s: f64,
    load_average: Option<[f64; 3]>,
}

/// What [`LoadMeter::finish`] found.
#[derive(Debug, Clone, serde::Serialize)]
// The field names are environment.json's keys.
#[allow(clippy::struct_field_names)]
pub(crate) struct Load {
    pub elapsed_s: f64,
    pub logical_cpus: u64,
    pub load_average_at_start: Option<[f64; 3]>,
    pub load_average_at_end: Option<[f64; 3]>,
    /// CPU time the rest of the machine used, as a share of all CPUs over the experiment.
    pub others_cpu_share: Option<f64>,
}

/// Other work may use up to this share of the machine before the experiment counts as disturbed.
pub(crate) const BUSY_SHARE: f64 = 0.10;

impl LoadMeter {
    pub(crate) fn start() -> Self {
        Self {
            start: std::time::Instant::now(),
            machine_busy_s: machine_busy_s(),
            own_cpu_s: sys::cpu_time_s(),
            load_average: load_average(),
        }
    }

    pub(crate) fn finish(&self) -> Load {
        let elapsed_s = self.start.elapsed().as_secs_f64();
        let logical_cpus = logical_cpus();
        // Too short an experiment for the kernel's clock-tick counts to say anything.
        let others_cpu_share = match (self.machine_busy_s, machine_busy_s()) {
            (Some(before), Some(after)) if elapsed_s >= 1.0 => {
                let others = (after - before) - (sys::cpu_time_s() - self.own_cpu_s);
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
    pub(crate) fn warnings(&self) -> Vec<String> {
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
pub(crate) fn logical_cpus() -> u64 {
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
    Some(busy as f64 / sys::clock_ticks() as f64)
}

/// The bytes the speed anchor hashes per pass: more than a core's own caches hold and less than a shared
/// last-level cache, like the data of a `compute` step, so that the anchor slows with the core and with the
/// cache that other tenants of the host share.
const ANCHOR_BYTES: usize = 4 * 1024 * 1024;
/// Passes per probe: 16 MiB, one to two milliseconds on a current core.
const ANCHOR_PASSES: u32 = 4;
/// Probes per anchor: the fastest counts, so that one preemption of the harness does not.
const ANCHOR_PROBES: u32 = 2;

/// The speed anchor: seconds the harness takes, right now, to hash a fixed 4 MiB four times with the hash of
/// the `compute` step, on one core (the faster of two probes). The work never changes, so on one
/// machine it changes only with the speed the machine gives: measured next to every run, it tells a run
/// slowed by the machine from a run of slower code.
pub(crate) fn speed_anchor() -> f64 {
    use std::sync::OnceLock;
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    let data = DATA.get_or_init(|| harness_sdk::checksum::seeded_bytes(0x5eed, ANCHOR_BYTES));
    let mut fastest = f64::INFINITY;
    let mut fold = 0u64;
    for _ in 0..ANCHOR_PROBES {
        let start = std::time::Instant::now();
        for pass in 0..ANCHOR_PASSES {
            fold = harness_sdk::checksum::fold(fold, harness_sdk::checksum::hash_bytes(std::hint::black_box(data)));
            fold = fold.wrapping_add(u64::from(pass));
        }
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(fold);
    fastest
}
