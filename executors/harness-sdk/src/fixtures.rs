//! The fixture files of `read_file` steps: their names and content. The harness writes them before a run;
//! executors read them.

use crate::checksum::{SeededStream, fold};

/// The name of fixture file `index` of `size` bytes inside [`Resources::files_dir`](crate::protocol::Resources).
pub fn fixture_file_name(size: u64, index: u32) -> String {
    format!("{size}-{index}.bin")
}

/// The content of a fixture file: seeded by the experiment seed, the size and the index.
pub fn fixture_file_content(seed: u64, size: u64, index: u32) -> Vec<u8> {
    let mut content = vec![0; size as usize];
    fixture_file_stream(seed, size, index).fill(&mut content);
    content
}

/// The content of a fixture file in pieces, for a file too large to hold in memory.
pub fn fixture_file_stream(seed: u64, size: u64, index: u32) -> SeededStream {
    SeededStream::new(fold(fold(seed, size), u64::from(index)))
}
