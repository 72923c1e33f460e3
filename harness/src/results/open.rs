//! Opening a result folder that `harness run` (or `harness merge`) wrote, for the commands that read one:
//! `report`, `compare`, `export`, `merge`, and `run --resume` and `--baseline`.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::error::Error;

use super::{Environment, Runs, files, read_warnings};

/// A result folder opened for reading: where its files are, and its `environment.json` and `warnings.txt`.
#[derive(Debug)]
pub(crate) struct Folder {
    pub(crate) dir: PathBuf,
    /// `environment.json`, or an empty one when it is missing or unreadable.
    pub(crate) environment: Environment,
    /// `warnings.txt`, when there is one.
    pub(crate) warnings: Option<Vec<String>>,
}

impl Folder {
    /// Opens the result folder `dir`, after checking that it is one.
    pub(crate) fn open(dir: &Path) -> Result<Self, NotAResultFolder> {
        check(dir)?;
        Ok(Folder { dir: dir.to_owned(), environment: Environment::read_or_default(dir), warnings: read_warnings(dir) })
    }

    /// The experiment file the folder ran, as copied into it.
    pub(crate) fn experiment_file(&self) -> PathBuf {
        self.dir.join(files::EXPERIMENT)
    }

    /// Its `runs.csv`.
    pub(crate) fn runs_file(&self) -> PathBuf {
        self.dir.join(files::RUNS)
    }

    /// Reads its `runs.csv`.
    pub(crate) fn runs(&self) -> std::io::Result<Runs> {
        Runs::read(&self.runs_file())
    }
}

/// A folder that is not a result folder: it lacks `runs.csv` or `experiment.toml`. Bad input.
#[derive(Debug)]
pub struct NotAResultFolder {
    pub dir: PathBuf,
}

impl NotAResultFolder {
    /// The one message for it, with how to fix it.
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::new(format!(
            "{} is not a result folder: it needs {} and {}",
            self.dir.display(),
            files::RUNS,
            files::EXPERIMENT
        ))
        .help("pass a folder that `harness run` wrote, such as results/NAME/latest")
    }
}

impl std::fmt::Display for NotAResultFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic().message)
    }
}

impl std::error::Error for NotAResultFolder {}

impl From<NotAResultFolder> for Diagnostic {
    fn from(e: NotAResultFolder) -> Self {
        e.diagnostic()
    }
}

impl From<NotAResultFolder> for Error {
    fn from(e: NotAResultFolder) -> Self {
        Error::from(e.diagnostic())
    }
}

/// Checks that `dir` is a result folder, before anything of it is read.
pub(crate) fn check(dir: &Path) -> Result<(), NotAResultFolder> {
    if dir.join(files::RUNS).is_file() && dir.join(files::EXPERIMENT).is_file() {
        Ok(())
    } else {
        Err(NotAResultFolder { dir: dir.to_owned() })
    }
}

/// The experiment file a result folder ran, as copied into it.
pub(crate) fn experiment_source(dir: &Path) -> Result<String, NotAResultFolder> {
    check(dir)?;
    std::fs::read_to_string(dir.join(files::EXPERIMENT)).map_err(|_| NotAResultFolder { dir: dir.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_needs_runs_csv_and_experiment_toml() {
        let dir = std::env::temp_dir().join(format!("harness-open-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let message = check(&dir).unwrap_err().diagnostic().message;
        assert_eq!(message, format!("{} is not a result folder: it needs runs.csv and experiment.toml", dir.display()));
        std::fs::write(dir.join(files::RUNS), "cell,repetition,status\n").unwrap();
        assert!(check(&dir).is_err());
        std::fs::write(dir.join(files::EXPERIMENT), "name = \"x\"\n").unwrap();
        assert!(check(&dir).is_ok());
        assert_eq!(experiment_source(&dir).unwrap(), "name = \"x\"\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
