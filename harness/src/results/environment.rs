//! `environment.json`, typed: the fields the harness reads back, and every other field kept as it was, so
//! a document read and written again loses nothing. [`crate::survey`] builds the document; this module
//! reads and writes it, always atomically.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::files;

/// An `environment.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Environment {
    #[serde(default, skip_serializing_if = "ExperimentRecord::is_empty")]
    pub experiment: ExperimentRecord,
    /// The shard this folder holds, `K/N`; `null` when it holds every shard.
    #[serde(default)]
    pub shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// When the run was resumed, each time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<String>,
    /// How busy the machine was during the experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_load: Option<MachineLoad>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// The step libraries of `[libraries]` as the experiment started with them: `--resume` runs on only with
    /// the same files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<LibraryRecord>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A step library as `environment.json` records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LibraryRecord {
    pub name: String,
    pub path: String,
    /// The hash of the file's bytes (`xxh3-128:` and 32 hexadecimal digits).
    pub hash: String,
}

/// The experiment's settings, as `environment.json` records them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExperimentRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetitions: Option<u64>,
    /// How many cells the experiment has (every shard's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ExperimentRecord {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What the load meter found (see [`crate::machine::Load`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MachineLoad {
    /// Other processes' share of the machine's CPU time; `null` when it could not be measured.
    #[serde(default)]
    pub others_cpu_share: Option<f64>,
    #[serde(default)]
    pub logical_cpus: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The machine's CPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_cpus: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Environment {
    /// The document `value`, typed.
    pub(crate) fn from_value(value: Value) -> serde_json::Result<Self> {
        serde_json::from_value(value)
    }

    /// The document as JSON.
    pub(crate) fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("an environment is serializable")
    }

    /// The `environment.json` of result folder `dir`.
    pub(crate) fn read(dir: &Path) -> io::Result<Self> {
        let bytes = super::open::read_regular(&dir.join(files::ENVIRONMENT), super::open::MAX_SMALL_FILE_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// The `environment.json` of `dir`; empty when it is missing or unreadable, so that what is read from
    /// it falls back to defaults.
    pub(crate) fn read_or_default(dir: &Path) -> Self {
        Self::read(dir).unwrap_or_default()
    }

    /// Writes it into `dir`, replacing any earlier one whole.
    pub(crate) fn write(&self, dir: &Path) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let temporary = dir.join(format!(".{}", files::ENVIRONMENT));
        let written = super::write_replacing(&temporary, &bytes)
            .and_then(|()| std::fs::rename(&temporary, dir.join(files::ENVIRONMENT)));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }

    /// The logical CPUs of the machine the results were measured on, as the load meter or the machine
    /// description recorded them.
    pub(crate) fn logical_cpus(&self) -> Option<u64> {
        self.machine_load
            .as_ref()
            .and_then(|l| l.logical_cpus)
            .or_else(|| self.cpu.as_ref().and_then(|c| c.logical_cpus))
    }

    /// The executors the experiment ran, as recorded when it started (name, version, options, model):
    /// what a folder read back knows of them without loading any library. An executor recorded without
    /// its options (by an older harness) is left out.
    pub(crate) fn executors(&self) -> Vec<crate::plugin::PluginInfo> {
        let Some(Value::Object(executors)) = self.extra.get("executors") else { return Vec::new() };
        executors
            .iter()
            .filter_map(|(name, info)| {
                let mut info: crate::plugin::PluginInfo = serde_json::from_value(info.clone()).ok()?;
                info.name.clone_from(name);
                Some(info)
            })
            .collect()
    }

    /// Other processes' share of the machine's CPU time while the experiment ran.
    pub(crate) fn others_cpu_share(&self) -> Option<f64> {
        self.machine_load.as_ref().and_then(|l| l.others_cpu_share)
    }
}

/// Identifies an experiment file's exact text: shards and resumed runs must all come from the same one.
pub(crate) fn file_hash(source: &str) -> String {
    crate::fmt::hash128(xxhash_rust::xxh3::xxh3_128(source.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_typed_and_unknown_ones_kept() {
        let document = json!({
            "harness": { "version": "1" },
            "experiment": { "name": "e", "seed": 7, "repetitions": 5, "cells": 3, "order": "interleaved" },
            "shard": "1/2",
            "machine_load": { "others_cpu_share": 0.25, "logical_cpus": 4, "elapsed_s": 1.5 },
            "cpu": { "model": "x", "logical_cpus": 8 },
            "hostname": "h",
        });
        let environment = Environment::from_value(document.clone()).unwrap();
        assert_eq!(environment.experiment.seed, Some(7));
        assert_eq!(environment.experiment.cells, Some(3));
        assert_eq!(environment.shard.as_deref(), Some("1/2"));
        assert_eq!(environment.others_cpu_share(), Some(0.25));
        assert_eq!(environment.logical_cpus(), Some(4));
        assert_eq!(environment.to_value(), document);
    }

    #[test]
    fn an_empty_document_reads_as_defaults() {
        let environment = Environment::from_value(json!({})).unwrap();
        assert_eq!(environment.experiment.seed, None);
        assert_eq!(environment.logical_cpus(), None);
        assert_eq!(environment.to_value(), json!({ "shard": null }));
    }
}
