//! The checksum every executor must agree on, and the seeded data it is computed over.
//!
//! A task's checksum starts at [`task_seed`] and [`fold`]s in the value of each of its steps, in order; a
//! run's checksum is the wrapping sum of its tasks' checksums, so it does not depend on the order tasks ran
//! in. What each step kind yields is written once, in [`crate::steps`].

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Folds one step's value into a task's running checksum.
#[inline]
pub fn fold(acc: u64, value: u64) -> u64 {
    xxh3_64_with_seed(&value.to_le_bytes(), acc)
}

/// The value a step that reads bytes (a file, a response) yields.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxh3_64_with_seed(bytes, 0)
}

/// The starting checksum of task `task`.
#[inline]
pub fn task_seed(task: u64) -> u64 {
    fold(0x9e37_79b9_7f4a_7c15, task)
}

/// `len` bytes of data derived from `seed` (splitmix64), the same on every machine.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}
