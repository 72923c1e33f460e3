//! The fixture files of `read_file` steps: their names and content. The harness writes them before a run;
//! executors read them.

use crate::checksum::{fold, seeded_bytes};

/// The name of fixture file `index` of `size` bytes inside [`Resources::files_dir`](crate::protocol::Resources).
pub fn fixture_file_name(size: u64, index: u32) -> String {
    format!("{size}-{index}.bin")
}

/// The content of a fixture file: seeded by the experiment seed, the size and the index.
pub fn fixture_file_content(seed: u64, size: u64, index: u32) -> Vec<u8> {
    seeded_bytes(fold(fold(seed, size), u64::from(index)), size as usize)
}
