//! The checks of `harness run --resume DIR`: the folder ran the same experiment file with the same step
//! libraries, and the shard asked for is the one it holds.

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
    libraries(dir, file, experiment, &environment)?;
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

/// Checks that every step library of `experiment` has the bytes it had when `dir` was started (by its
/// name; the file may have been moved with the experiment file): the runs of one cell must not mix two
/// builds of a library.
fn libraries(dir: &Path, file: &Path, experiment: &Experiment, environment: &Environment) -> Result<(), Error> {
    for library in &experiment.libraries {
        let Some(recorded) = environment.libraries.iter().find(|r| r.name == library.name) else { continue };
        let now = crate::run::libraries::hash_file(&library.path);
        if now.as_ref().is_ok_and(|hash| *hash == recorded.hash) {
            continue;
        }
        let now = now.map_or_else(|e| format!("cannot be read ({e})"), |hash| format!("is {hash} now"));
        return Err(Diagnostic::new(format!(
            "step library `{}` ({}) changed since {} was started: it was {} and {now}",
            library.name,
            library.path.display(),
            dir.display(),
            recorded.hash
        ))
        .in_file(file)
        .help("a resumed run must use the same libraries: put back the one it started with, or start a new run")
        .into());
    }
    Ok(())
}
