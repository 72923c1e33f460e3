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
    let mut out = vec![0; len];
    SeededStream::new(seed).fill(&mut out);
    out
}

/// The bytes of [`seeded_bytes`] in pieces, for data too large to hold at once: successive calls of
/// [`SeededStream::fill`] give what one `seeded_bytes` of their total length would.
#[derive(Debug, Clone)]
pub struct SeededStream {
    state: u64,
    /// The bytes of the last word not handed out yet, and how many of them there are.
    pending: [u8; 8],
    pending_len: usize,
}

impl SeededStream {
    pub fn new(seed: u64) -> Self {
        Self { state: seed, pending: [0; 8], pending_len: 0 }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Fills `out` with the next `out.len()` bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut at = 0;
        while at < out.len() {
            if self.pending_len == 0 {
                self.pending = self.next_word();
                self.pending_len = 8;
            }
            let start = 8 - self.pending_len;
            let n = self.pending_len.min(out.len() - at);
            out[at..at + n].copy_from_slice(&self.pending[start..start + n]);
            self.pending_len -= n;
            at += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64 word by word, as the data was always made: the stream must give the same bytes.
    fn reference(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed;
        let mut out = Vec::new();
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

    #[test]
    fn a_stream_in_pieces_of_any_size_gives_the_bytes_of_one_piece() {
        let whole = reference(42, 1000);
        assert_eq!(seeded_bytes(42, 1000), whole);
        assert_eq!(seeded_bytes(7, 13), reference(7, 13));
        let mut stream = SeededStream::new(42);
        let mut pieces = Vec::new();
        for size in [1, 7, 8, 13, 64, 3, 904] {
            let mut piece = vec![0; size];
            stream.fill(&mut piece);
            pieces.extend(piece);
        }
        assert_eq!(pieces, whole);
    }
}
