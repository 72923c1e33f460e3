//! `arrival` of a workload: an open workload, whose tasks arrive at a rate (`harness_sdk::arrival`).
//!
//! ```toml
//! arrival = { rate = "500/s", duration = "3s" }                  # or tasks = N, here or on the workload
//! arrival = { rate = "${rate}", tasks = 1000, process = "poisson", max_queue = 64 }
//! ```

use serde::Deserialize;
use toml::Spanned;

/// `arrival = { ... }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArrival {
    pub rate: Option<Spanned<toml::Value>>,
    pub duration: Option<Spanned<toml::Value>>,
    pub tasks: Option<Spanned<toml::Value>>,
    pub process: Option<Spanned<toml::Value>>,
    pub max_queue: Option<Spanned<toml::Value>>,
}

impl RawArrival {
    /// Every value, for finding `${axis}` references.
    pub(super) fn values(&self) -> impl Iterator<Item = &Spanned<toml::Value>> {
        [&self.rate, &self.duration, &self.tasks, &self.process, &self.max_queue].into_iter().flatten()
    }
}

/// What a rate looks like, for error messages.
pub(crate) const RATE_EXPECTED: &str = "a rate such as \"500/s\", \"3000/min\" or \"100/h\"";

/// The process names, in the order the docs give them.
pub(crate) const PROCESSES: [&str; 2] = ["constant", "poisson"];

/// Parses a rate, `N/s`, `N/min` or `N/h` (N a positive number), into tasks per second.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let Some((number, unit)) = text.split_once('/') else {
        return Err(format!("`{text}` is not a rate (no `/` and unit)"));
    };
    let per = match unit.trim() {
        "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("`{other}` is not a unit of rate (s, min, h)")),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n / per),
        _ => Err(format!("`{}` is not a number more than zero", number.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second() {
        assert_eq!(parse_rate("500/s"), Ok(500.0));
        assert_eq!(parse_rate("3000 / min"), Ok(50.0));
        assert_eq!(parse_rate("7200/h"), Ok(2.0));
        assert_eq!(parse_rate("0.5/s"), Ok(0.5));
        assert!(parse_rate("500").unwrap_err().contains("no `/`"));
        assert!(parse_rate("500/ms").unwrap_err().contains("`ms` is not a unit of rate"));
        assert!(parse_rate("0/s").unwrap_err().contains("more than zero"));
        assert!(parse_rate("x/s").unwrap_err().contains("`x` is not a number"));
    }
}
