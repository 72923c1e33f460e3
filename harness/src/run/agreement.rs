//! `checksum = "must-agree"`: every `ok` run of a workload's cells reports the checksum of the first one,
//! or fails. The group of a cell is [`CellPlan::checksum_group`]; the first `ok` run of a group, measured
//! now or found in `runs.csv` by `--resume`, is what the others must agree with.

use std::collections::HashMap;

use crate::experiment::{Agreement, CellPlan, Experiment};

/// The first `ok` run of each group of cells whose checksums must agree.
#[derive(Debug, Default)]
pub(crate) struct MustAgree {
    first: HashMap<String, First>,
    /// What the results should warn about: each run that failed for its checksum.
    pub(super) failed: Vec<String>,
}

/// A run whose checksum the others of its group must report.
#[derive(Debug, Clone, Copy)]
struct First {
    cell: usize,
    repetition: u32,
    checksum: u64,
}

impl MustAgree {
    /// The group of `cell`, when its runs must agree.
    fn group(cell: &CellPlan) -> Option<String> {
        (cell.checksum == Agreement::MustAgree).then(|| cell.checksum_group()).flatten()
    }

    /// Takes an `ok` run already in the result folder (`--resume`) as the first of its group, unless the group
    /// has one.
    pub(crate) fn found(&mut self, experiment: &Experiment, cell: usize, repetition: u32, checksum: u64) {
        if let Some(group) = experiment.cells.get(cell).and_then(Self::group) {
            self.first.entry(group).or_insert(First { cell, repetition, checksum });
        }
    }

    /// Checks the checksum of an `ok` measured run of cell `cell`; the run's error when it differs from the
    /// first of its group.
    pub(super) fn check(
        &mut self,
        experiment: &Experiment,
        cell: usize,
        repetition: u32,
        checksum: u64,
    ) -> Result<(), String> {
        let Some(group) = Self::group(&experiment.cells[cell]) else { return Ok(()) };
        let first = *self.first.entry(group).or_insert(First { cell, repetition, checksum });
        if first.checksum == checksum {
            return Ok(());
        }
        let columns = &experiment.columns;
        let error = format!(
            "checksum {checksum:016x} differs from {:016x}, that of {} repetition {}, which ran the same workload \
             (`{}`, checksum = \"must-agree\")",
            first.checksum,
            experiment.cells[first.cell].label(columns),
            first.repetition,
            experiment.cells[cell].workload.name
        );
        self.failed.push(format!("{} repetition {repetition}: {error}", experiment.cells[cell].label(columns)));
        Err(error)
    }
}
