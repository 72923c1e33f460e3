//! `arrival` of a workload: an open workload, whose tasks arrive at a rate (`harness_sdk::arrival`).
//!
//! ```toml
//! arrival = { rate = "500/s", duration = "3s" }                  # or tasks = N, here or on the workload
//! arrival = { rate = "${rate}", tasks = 1000, process = "poisson", max_queue = 64 }
//! arrival = { rate = "search", duration = "1s", objective = { p99 = "10ms" },
//!             search = { lowest = "10/s", highest = "10000/s", precision = "5%", confirm = 2 } }
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
    /// With `rate = "search"`: the response-time percentiles a rate must keep within.
    pub objective: Option<Spanned<RawObjective>>,
    /// With `rate = "search"`: its bounds, precision and confirmations.
    pub search: Option<Spanned<RawSearch>>,
}

/// `objective = { p99 = "10ms" }`: one key per percentile of the response time ([`crate::search::PERCENTILES`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObjective {
    pub mean: Option<Spanned<toml::Value>>,
    pub p50: Option<Spanned<toml::Value>>,
    pub p90: Option<Spanned<toml::Value>>,
    pub p99: Option<Spanned<toml::Value>>,
    pub max: Option<Spanned<toml::Value>>,
}

impl RawObjective {
    /// The bounds written, in the order of [`crate::search::PERCENTILES`].
    pub(super) fn bounds(&self) -> [Option<&Spanned<toml::Value>>; 5] {
        [&self.mean, &self.p50, &self.p90, &self.p99, &self.max].map(Option::as_ref)
    }
}

/// `search = { lowest = "10/s", highest = "10000/s", precision = "5%", confirm = 2 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSearch {
    pub lowest: Option<Spanned<toml::Value>>,
    pub highest: Option<Spanned<toml::Value>>,
    pub precision: Option<Spanned<toml::Value>>,
    pub confirm: Option<Spanned<toml::Value>>,
}

impl RawArrival {
    /// Every value, for finding `${axis}` references.
    pub(super) fn values(&self) -> impl Iterator<Item = &Spanned<toml::Value>> {
        let objective = self.objective.as_ref().map(|o| o.get_ref().bounds()).into_iter().flatten().flatten();
        let search = self.search.as_ref().map(|s| {
            let s = s.get_ref();
            [&s.lowest, &s.highest, &s.precision, &s.confirm]
        });
        [&self.rate, &self.duration, &self.tasks, &self.process, &self.max_queue]
            .into_iter()
            .flatten()
            .chain(objective)
            .chain(search.into_iter().flatten().flatten())
    }
}

/// The word of `rate` that asks for a search.
pub(crate) const SEARCH: &str = "search";

/// The defaults of `search`: from 1/s up to 1,000,000/s, within 5%, the rate found probed twice more.
pub(crate) const DEFAULT_LOWEST: f64 = 1.0;
pub(crate) const DEFAULT_HIGHEST: f64 = 1_000_000.0;
pub(crate) const DEFAULT_PRECISION: f64 = 0.05;
pub(crate) const DEFAULT_CONFIRM: u32 = 2;
/// The bounds of the search's keys: the lowest rate (`runs.csv` writes rates with three decimals), the
/// widest span of rates (the doubling's probes), the finest precision, the most confirmations.
pub(crate) const MIN_LOWEST: f64 = 0.01;
pub(crate) const MAX_SPAN: f64 = 1_073_741_824.0;
pub(crate) const MIN_PRECISION: f64 = 0.001;
pub(crate) const MAX_CONFIRM: i64 = 10;

/// The highest rate: one arrival a nanosecond, the resolution of a schedule.
pub(crate) const MAX_RATE: f64 = 1e9;
/// The most tasks a run of an open workload has: its schedule keeps each one's arrival time and state (9
/// bytes a task, 900 MB at this bound).
pub(crate) const MAX_OPEN_TASKS: u64 = 100_000_000;

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
        Ok(n) if n.is_finite() && n > 0.0 && n / per <= MAX_RATE => Ok(n / per),
        Ok(n) if n.is_finite() && n > 0.0 => {
            Err("it is more than 1000000000/s, one arrival a nanosecond, the finest a schedule holds".to_owned())
        }
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
        assert_eq!(parse_rate("1000000000/s"), Ok(1e9));
        assert!(parse_rate("1e300/s").unwrap_err().contains("more than 1000000000/s"));
        assert!(parse_rate("1e308/min").unwrap_err().contains("more than 1000000000/s"));
    }
}
