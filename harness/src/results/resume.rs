//! The checks of `harness run --resume DIR`: the folder ran the same experiment file, and the shard asked
//! for is the one it holds.

use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::experiment::Experiment;
use crate::run::Shard;

use super::{Environment, file_hash, open};

/// Checks that resuming `dir` with `experiment` (read from `file`) continues the same experiment file and
/// shard; returns the shard to run.
pub(crate) fn shard(
    dir: &Path,
    file: &Path,
    experiment: &Experiment,
    shard: Option<Shard>,
) -> Result<Option<Shard>, Error> {
    let before = open::experiment_source(dir)?;
    if file_hash(&before) != file_hash(&experiment.source) {
        return Err(Diagnostic::new(format!("{} changed since {} was started", file.display(), dir.display()))
            .in_file(file)
            .help("a resumed run must use the same file; start a new run instead")
            .into());
    }
    let environment = Environment::read_or_default(dir);
    let recorded = environment.shard.as_deref().map(str::parse::<Shard>).transpose().map_err(Diagnostic::new)?;
    match (recorded, shard) {
        (recorded, None) => Ok(recorded),
        (None, Some(asked)) => Err(Diagnostic::new(format!(
            "{} holds every shard, but shard {asked} was asked for (by --shard or the Slurm array variables)",
            dir.display()
        ))
        .help("resume a whole result folder without --shard, outside a job array")
        .into()),
        (Some(recorded), Some(asked)) if recorded != asked => {
            Err(Diagnostic::new(format!("{} holds shard {recorded}, not {asked}", dir.display()))
                .help("leave out --shard when resuming")
                .into())
        }
        (_, asked) => Ok(asked),
    }
}
