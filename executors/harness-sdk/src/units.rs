//! Sizes and durations as experiment files write them: `64KiB`, `10ms`.

use std::time::Duration;

/// `512B`, `64KiB`, `3MiB`; sizes that are not a whole number of a unit stay in bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Formats a duration the way experiment files write it ("10ms", "1.5s").
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string().replace(' ', "")
}

/// A duration of `nanos` nanoseconds, as [`format_duration`] writes it.
pub fn format_nanos(nanos: u64) -> String {
    format_duration(Duration::from_nanos(nanos))
}
