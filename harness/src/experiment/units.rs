//! Human-readable durations ("250us", "10ms", "2s") and sizes ("512B", "64KiB", "1MiB").

use std::time::Duration;

/// What a duration looks like, for error messages.
pub(crate) const DURATION_EXPECTED: &str = "a duration such as \"250us\", \"10ms\" or \"2s\"";
/// The units of a duration, for error messages.
const DURATION_UNITS: &str = "the units are ns, us, ms, s, min, h, d, w, M (months) and y";
/// What a size looks like, for error messages.
pub(crate) const SIZE_EXPECTED: &str = "a size such as \"512B\", \"64KiB\" or \"1MiB\", or a number of bytes";

/// The longest duration accepted anywhere (`timeout`, `sleep`, `hold`, `delay`, `time_floor`): one year of
/// 365.25 days, `"1y"`. Longer ones overflow the clocks that time them.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(31_557_600);

/// The largest size accepted anywhere (`compute`, `alloc`, `read_file.size`, `net` sizes, `memory_limit`,
/// `memory_floor`): 1024 GiB, so that no sum of sizes overflows.
pub(crate) const MAX_SIZE: u64 = 1 << 40;

/// Parses a duration: numbers, a decimal fraction allowed, with units (`ns`, `us`, `ms`, `s`, `min`, `h`, and the other spellings of
/// the `humantime` crate), one or several ("1s 500ms"). A bare number is refused: its unit would be a guess.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the duration is empty".to_owned());
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{text}` has no unit; {DURATION_UNITS}"));
    }
    let duration = humantime::parse_duration(text).map_err(|e| {
        let why = e.to_string();
        let why = why.split(", supported units").next().unwrap_or_default().to_owned();
        if why.contains("overflow") || why.contains("too large") {
            // The same error for a duration too long and for a fraction finer than a nanosecond: without
            // its fractions, a duration that parses was refused for them.
            let whole: String = without_fractions(text);
            if whole != text && humantime::parse_duration(&whole).is_ok_and(|d| d <= MAX_DURATION) {
                return format!("`{text}` is finer than a nanosecond, the finest a duration is kept to");
            }
            return format!("`{text}` is longer than the longest duration accepted, 1 year");
        }
        if why.starts_with("unknown time unit") {
            return format!("`{text}` is not a duration ({why}; {DURATION_UNITS})");
        }
        format!("`{text}` is not a duration ({why})")
    })?;
    if duration > MAX_DURATION {
        return Err(format!("`{text}` is longer than the longest duration accepted, 1 year"));
    }
    Ok(duration)
}

/// `text` without the decimal fractions of its numbers: "1.5ns" is "1ns".
fn without_fractions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fraction = false;
    let mut previous = ' ';
    for c in text.chars() {
        // A point after a digit starts a fraction; the digits after it continue it.
        fraction = (c == '.' && previous.is_ascii_digit()) || (fraction && c.is_ascii_digit());
        if !fraction {
            out.push(c);
        }
        previous = c;
    }
    out
}

/// Parses a size: a whole number of bytes with an optional unit. Binary units (`KiB`, `MiB`, `GiB`)
/// are powers of 1024; decimal ones (`kB`/`KB`, `MB`, `GB`) powers of 1000.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` does not start with a number"));
    }
    if unit.starts_with('.') {
        return Err(format!("`{trimmed}` is not a whole number; use a smaller unit, such as KiB for MiB"));
    }
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("`{other}` is not a size unit (B, KiB, MiB, GiB, kB, MB, GB)")),
    };
    let too_large = || format!("`{trimmed}` is more than the largest size accepted, 1024GiB");
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    number.checked_mul(multiplier).filter(|&bytes| bytes <= MAX_SIZE).ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1s 500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10").unwrap_err().contains("no unit; the units are ns, us, ms, s"));
        assert!(parse_duration("10 parsecs").unwrap_err().ends_with("min, h, d, w, M (months) and y)"));
        assert!(parse_duration("1.5").unwrap_err().contains("has no unit"));
        for fine in ["1.5ns", "0.0001us", "1.23456789123s"] {
            assert!(parse_duration(fine).unwrap_err().contains("finer than a nanosecond"), "{fine}");
        }
        assert!(parse_duration("99999999999999999999.5s").unwrap_err().contains("longest duration"));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten ms").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("1y"), Ok(MAX_DURATION));
        for long in ["1y 1s", "300000000000y", "18446744073709551615s", "99999999999999999999999ns"] {
            assert!(parse_duration(long).unwrap_err().contains("longest duration accepted"), "{long}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("2 kB"), Ok(2_000));
        assert_eq!(parse_size("17"), Ok(17));
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert_eq!(parse_size("1024GiB"), Ok(MAX_SIZE));
        for large in ["1025GiB", "1099511627777", "18446744073709551616", "99999999999GB"] {
            assert!(parse_size(large).unwrap_err().contains("largest size accepted"), "{large}");
        }
    }

    proptest::proptest! {
        #[test]
        fn sizes_round_trip(n in 0u64..1_000_000, unit in proptest::sample::select(vec![("B", 1u64), ("KiB", 1024), ("MiB", 1 << 20)])) {
            proptest::prop_assert_eq!(parse_size(&format!("{n}{}", unit.0)), Ok(n * unit.1));
        }
    }
}
