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

/// A folder that is not a result folder: it lacks `runs.csv` or `experiment.toml`, or one of its files is
/// not a regular file. Bad input.
#[derive(Debug)]
pub struct NotAResultFolder {
    pub dir: PathBuf,
    /// What is wrong, when it is not a missing file.
    pub reason: Option<String>,
}

impl NotAResultFolder {
    fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), reason: None }
    }

    /// The one message for it, with how to fix it.
    pub fn diagnostic(&self) -> Diagnostic {
        let reason =
            self.reason.clone().unwrap_or_else(|| format!("it needs {} and {}", files::RUNS, files::EXPERIMENT));
        Diagnostic::new(format!("{} is not a result folder: {reason}", self.dir.display()))
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

/// Checks that `dir` is a result folder, before anything of it is read: `runs.csv` and `experiment.toml`
/// are there, and they and any `environment.json` and `warnings.txt` are regular files (a FIFO or a device
/// would block or never end).
pub(crate) fn check(dir: &Path) -> Result<(), NotAResultFolder> {
    if !dir.join(files::RUNS).exists() || !dir.join(files::EXPERIMENT).exists() {
        return Err(NotAResultFolder::new(dir));
    }
    for name in [files::RUNS, files::EXPERIMENT, files::ENVIRONMENT, files::WARNINGS] {
        match std::fs::metadata(dir.join(name)) {
            Ok(m) if !m.is_file() => {
                return Err(NotAResultFolder {
                    dir: dir.to_owned(),
                    reason: Some(format!("its {name} is not a regular file")),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The experiment file a result folder ran, as copied into it.
pub(crate) fn experiment_source(dir: &Path) -> Result<String, NotAResultFolder> {
    check(dir)?;
    read_regular(&dir.join(files::EXPERIMENT), MAX_SMALL_FILE_BYTES)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| NotAResultFolder::new(dir))
}

/// The most of a result folder's `runs.csv` the harness reads.
pub(crate) const MAX_RUNS_BYTES: u64 = 1 << 30;
/// The most of any other file of a result folder (`experiment.toml`, `environment.json`, `warnings.txt`).
pub(crate) const MAX_SMALL_FILE_BYTES: u64 = 16 << 20;

pub(crate) use crate::sys::{read_bounded, read_regular, regular_file};

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

    #[test]
    fn only_regular_files_are_read_and_only_up_to_their_bound() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::sys::mkfifo(&fifo).unwrap();
        // A FIFO without a writer would block a plain open and read for ever.
        let error = read_regular(&fifo, 10).unwrap_err();
        assert!(error.to_string().ends_with("fifo is not a regular file"), "{error}");
        assert!(read_regular(Path::new("/dev/zero"), 10).unwrap_err().to_string().contains("not a regular file"));
        let file = dir.path().join("ten");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_regular(&file, 10).unwrap(), b"0123456789");
        let error = read_regular(&file, 9).unwrap_err();
        assert!(error.to_string().contains("ten is longer than the 9B the harness reads"), "{error}");
    }
}
