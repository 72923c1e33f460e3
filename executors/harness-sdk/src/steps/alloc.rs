//! `alloc`: memory work. Allocates, touches and frees `bytes` bytes.

use super::{Cost, Work};
use crate::units::format_size;

/// Allocates and touches `bytes` bytes (one write per page), then frees them: the `alloc` step. Yields a
/// value that depends on every page having been written.
pub fn alloc(bytes: u64) -> u64 {
    const PAGE: usize = 4096;
    let mut buffer = vec![0u8; bytes as usize];
    for (page, chunk) in buffer.chunks_mut(PAGE).enumerate() {
        chunk[0] = page as u8 | 1;
    }
    let buffer = std::hint::black_box(buffer);
    buffer.chunks(PAGE).map(|c| u64::from(c[0])).sum()
}

/// CPU work.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Cpu };
/// The bytes it writes depend on the size only.
pub(super) const DETERMINISTIC: bool = true;

/// `alloc 1MiB`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, bytes: u64) -> std::fmt::Result {
    write!(f, "alloc {}", format_size(bytes))
}
