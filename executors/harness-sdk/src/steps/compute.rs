//! `compute`: CPU work, the same in every executor. Hashes the first `bytes` bytes of the run's seeded data
//! with xxh3, seeded by the experiment's seed and the task.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Cost, Work};
use crate::units::format_size;
use crate::workload::Prepared;

/// What a `compute` step yields: the hash of `bytes` bytes of the run's data, keyed by the task.
#[inline]
fn value(data: &[u8], seed: u64, task: u64, bytes: u64) -> u64 {
    xxh3_64_with_seed(&data[..bytes as usize], seed ^ task)
}

impl Prepared {
    /// Hashes `bytes` bytes of this run's seeded data, keyed by the task: the `compute` step.
    #[inline]
    pub fn compute(&self, task: u64, bytes: u64) -> u64 {
        value(&self.data, self.seed, task, bytes)
    }
}

/// CPU work.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Cpu };
/// The same data, hash and key on every run: its value is the same wherever it runs.
pub(super) const DETERMINISTIC: bool = true;

/// `compute 256KiB`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, bytes: u64) -> std::fmt::Result {
    write!(f, "compute {}", format_size(bytes))
}
