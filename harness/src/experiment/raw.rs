//! The experiment file as written: serde types that keep the place of every value, so that later
//! checks can point at it. Nothing outside [`crate::experiment`] sees these types.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub(super) type Table = IndexMap<Spanned<String>, Spanned<toml::Value>>;

/// `[matrix]`: every key is a list (axis values, or `exclude`/`include` entries).
pub(super) type Matrix = IndexMap<Spanned<String>, Spanned<Vec<Spanned<toml::Value>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub experiment: Spanned<RawExperiment>,
    #[serde(default)]
    pub workloads: IndexMap<Spanned<String>, Spanned<RawWorkload>>,
    pub matrix: Option<Spanned<Matrix>>,
    #[serde(default)]
    pub executors: IndexMap<Spanned<String>, Spanned<Table>>,
    #[serde(default)]
    pub plugins: IndexMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub charts: Vec<Spanned<RawChart>>,
    pub ci: Option<Spanned<RawCi>>,
    #[serde(default)]
    pub services: IndexMap<Spanned<String>, Spanned<RawService>>,
}

/// A `[services.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub command: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    pub cwd: Option<String>,
    pub ready: Option<Spanned<toml::Value>>,
    pub ready_timeout: Option<Spanned<String>>,
    pub scope: Option<Spanned<String>>,
}

/// `[ci]`: what `harness compare` gates on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCi {
    pub threshold: Option<Spanned<String>>,
    pub metrics: Option<Vec<Spanned<String>>>,
    pub time_floor: Option<Spanned<toml::Value>>,
    pub memory_floor: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub thresholds: IndexMap<Spanned<String>, Spanned<RawThreshold>>,
}

/// A metric's threshold: one percentage for both directions, or one per direction.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawThreshold {
    Both(String),
    Directed { increase: Option<String>, decrease: Option<String> },
}

/// Only the `[ci]` table of a file, for reading it back from a result folder.
#[derive(Debug, Deserialize)]
pub(super) struct CiOnly {
    pub ci: Option<Spanned<RawCi>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiment {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub repetitions: Option<Spanned<i64>>,
    pub warmup: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
    pub order: Option<Spanned<String>>,
    pub memory_limit: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    /// For the reader of the file; the harness does not use it.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
    pub tasks: Spanned<toml::Value>,
    pub steps: Spanned<Vec<Spanned<toml::Value>>>,
}

/// The step kinds, for "did you mean" hints.
pub(super) const STEP_KINDS: &[&str] = &["compute", "sleep", "read_file", "net", "shared", "alloc", "redis", "http"];

/// A `[[charts]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChart {
    pub title: Option<String>,
    pub x: Spanned<String>,
    pub y: Spanned<String>,
    pub series: Option<Spanned<String>>,
    pub facet: Option<Spanned<String>>,
    #[serde(default)]
    pub filter: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    pub kind: Option<Spanned<String>>,
    pub log_x: Option<bool>,
    pub log_y: Option<bool>,
}
