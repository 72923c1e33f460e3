//! How the harness writes quantities for people: sizes and durations as experiment files write them (the
//! SDK's, which writes steps with them), the numbers of `summary.csv` and of the exports, values in the
//! unit their dimension suits (charts, reports, comparisons), percentages and factors, and plain-text
//! tables. Every number the harness writes for people or for files is formatted here.

pub(crate) use harness_sdk::units::{format_duration, format_size};

use crate::metrics::Dimension;

/// A 128-bit hash of a file's content as result folders record it: `xxh3-128:` and 32 hexadecimal digits.
pub(crate) fn hash128(hash: u128) -> String {
    format!("xxh3-128:{hash:032x}")
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().enumerate().map(|(i, s)| format!("{s:<w$}", w = widths[i])).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Text from the experiment file or its results (a description, axis values, cell labels) made inert for
/// Markdown that a code-hosting page renders: HTML tags, links, emphasis, code spans, table pipes and
/// line breaks all show as the characters they are.
pub(crate) fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A message of the harness's own (a warning, a note) for Markdown: its code spans (`like this`), which
/// quote values and commands, stay code spans, where a page renders everything literally; the rest is
/// escaped as [`markdown`] does. Backticks that do not pair up simply (an odd count, or two in a row, which
/// a value may bring) make the whole message plain escaped text.
pub(crate) fn markdown_message(text: &str) -> String {
    if text.matches('`').count() % 2 == 1 || text.contains("``") {
        return markdown(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push('`');
            out.extend(part.chars().map(|c| if c.is_control() { ' ' } else { c }));
            out.push('`');
        } else {
            out.push_str(&markdown(part));
        }
    }
    out
}

/// A number of `summary.csv`: whole numbers without decimals (bytes, counts), the rest to the nanosecond.
pub(crate) fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let text = format!("{x:.9}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A number of the exports: four significant digits, without exponent noise for everyday magnitudes.
pub(crate) fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e7) {
        format!("{x:.3e}")
    } else {
        format!("{}", (x * 1e4).round() / 1e4)
    }
}

/// A unit for values of a dimension: the scale to multiply them by, and its name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Unit {
    pub scale: f64,
    pub name: &'static str,
}

/// The unit that shows values up to `largest` as numbers from about 0.9 to 900: a thousand of one unit is
/// shown as about 1 of the next.
pub(crate) fn unit(dimension: Dimension, largest: f64) -> Unit {
    let pick = |units: &[(f64, &'static str)]| {
        let (scale, name) =
            units.iter().copied().find(|(scale, _)| largest * scale >= 0.9).unwrap_or(units[units.len() - 1]);
        Unit { scale, name }
    };
    match dimension {
        Dimension::Seconds => pick(&[(1.0, "s"), (1e3, "ms"), (1e6, "µs"), (1e9, "ns")]),
        Dimension::Bytes => pick(&[
            (1.0 / f64::from(1u32 << 30), "GiB"),
            (1.0 / f64::from(1u32 << 20), "MiB"),
            (1.0 / 1024.0, "KiB"),
            (1.0, "B"),
        ]),
        Dimension::PerSecond => Unit { scale: 1.0, name: "tasks/s" },
        Dimension::Count | Dimension::Label => Unit { scale: 1.0, name: "count" },
        Dimension::Percent => Unit { scale: 100.0, name: "%" },
        Dimension::Times => Unit { scale: 1.0, name: "×" },
    }
}

/// A tick label: three significant digits at most, with k and M for large numbers.
pub(crate) fn tick(value: f64) -> String {
    let magnitude = value.abs();
    let (value, suffix) = if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let magnitude = value.abs();
    let decimals = if magnitude == 0.0 || magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        // Three significant digits below 1.
        (2 - magnitude.log10().floor() as i32).clamp(0, 9) as usize
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{suffix}")
}

/// "12.3 ms (11.9 to 12.8)": a value of `dimension` with its interval `(low, high)`, in a unit that suits
/// it; the value alone when the interval is a point.
pub(crate) fn quantity(dimension: Dimension, value: f64, (low, high): (f64, f64)) -> String {
    let unit = unit(dimension, value.abs().max(high.abs()));
    let show = |v: f64| tick(v * unit.scale);
    let name = match unit.name {
        "count" => String::new(),
        "%" | "×" => unit.name.to_owned(),
        other => format!(" {other}"),
    };
    if (high - low).abs() < f64::EPSILON * value.abs().max(1.0) {
        format!("{}{name}", show(value))
    } else {
        format!("{}{name} ({} to {})", show(value), show(low), show(high))
    }
}

/// "10%", "22.2%": a fraction as a percentage, three significant digits at most.
pub(crate) fn percent(x: f64) -> String {
    format!("{}%", tick(x * 100.0))
}

/// "5%": a fraction as a whole percentage.
pub(crate) fn whole_percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

/// "+12.3%", "-0.4%", "+inf": a relative change, signed, to a tenth of a percent.
pub(crate) fn signed_percent(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "+inf".to_owned() } else { "-inf".to_owned() };
    }
    format!("{:+.1}%", x * 100.0)
}

/// "1.08x", "12.3x": a factor, three significant digits.
pub(crate) fn times(factor: f64) -> String {
    if factor >= 10.0 { format!("{factor:.1}x") } else { format!("{factor:.2}x") }
}

/// "12.500 ms": seconds in milliseconds, to the microsecond.
pub(crate) fn milliseconds(seconds: f64) -> String {
    format!("{:.3} ms", seconds * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_text_is_inert() {
        assert_eq!(markdown("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(markdown("[x](javascript:y) `a` *b* | c"), "\\[x\\](javascript:y) \\`a\\` \\*b\\* \\| c");
        assert_eq!(markdown("one\ntwo"), "one two");
        assert_eq!(markdown("rate=1.5k size=4MiB"), "rate=1.5k size=4MiB");
    }

    #[test]
    fn markdown_messages_keep_their_code_spans() {
        assert_eq!(markdown_message("unknown executor `<b>`: see <i>"), "unknown executor `<b>`: see &lt;i&gt;");
        assert_eq!(markdown_message("a `b` c`d"), "a \\`b\\` c\\`d");
        assert_eq!(markdown_message("``x``"), "\\`\\`x\\`\\`");
    }

    #[test]
    fn numbers_are_written_compactly() {
        assert_eq!(number(9_437_184.0), "9437184");
        assert_eq!(number(0.012_5), "0.0125");
        assert_eq!(number(1.0 / 3.0), "0.333333333");
    }

    #[test]
    fn short_numbers_keep_four_significant_digits() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(12.345_678), "12.3457");
        assert_eq!(short(0.000_123_4), "1.234e-4");
        assert_eq!(short(2.5e8), "2.500e8");
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(0.001_234_5), "0.00123");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(12.0), "12");
        assert_eq!(tick(150.0), "150");
        assert_eq!(tick(2000.0), "2k");
        assert_eq!(tick(25_000.0), "25k");
        assert_eq!(tick(1_500_000.0), "1.5M");
    }

    #[test]
    fn units_keep_numbers_readable() {
        assert_eq!(unit(Dimension::Seconds, 0.2).name, "ms");
        assert_eq!(unit(Dimension::Seconds, 3.0).name, "s");
        assert_eq!(unit(Dimension::Seconds, 2e-5).name, "µs");
        assert_eq!(unit(Dimension::Bytes, 5e6).name, "MiB");
        assert_eq!(unit(Dimension::Bytes, 1_044_480.0).name, "MiB");
        assert_eq!(unit(Dimension::Seconds, 0.000_95).name, "ms");
        assert_eq!(unit(Dimension::Percent, 0.5).name, "%");
    }
}
