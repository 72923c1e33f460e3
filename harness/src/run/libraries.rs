//! The step libraries of an experiment, as they were when it started: each file's hash, taken once, and
//! checked before and after every run that calls the library, so that the runs of one experiment never mix
//! two builds of it. The check is a `stat` (device, inode, size, modification time); the file is hashed again
//! only when one of these changed, and a file written again with the same bytes (`touch`, a rebuild that
//! changed nothing) is still the same library.

use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use harness_sdk::protocol::Step;

use crate::experiment::{CellPlan, Experiment};

/// What names one version of a file: a replaced or rewritten file differs in one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileVersion {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
}

impl FileVersion {
    pub(super) fn of(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path)?;
        Ok(Self {
            device: m.dev(),
            inode: m.ino(),
            size: m.size(),
            modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// The hash of a file's bytes, read in pieces: a library may be large.
pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(crate::fmt::hash128(hasher.digest128())),
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A step library as the experiment started with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Library {
    /// Its name in `[libraries]`.
    pub name: String,
    pub path: PathBuf,
    /// The hash of its bytes when the experiment started ([`hash_file`]).
    pub hash: String,
    /// The version of the file that had this hash, last seen.
    version: Option<FileVersion>,
}

/// The step libraries of an experiment, hashed when it started.
#[derive(Debug, Default)]
pub(crate) struct Libraries {
    libraries: Vec<Library>,
}

impl Libraries {
    /// Hashes every library of `experiment`.
    pub(crate) fn hash(experiment: &Experiment) -> io::Result<Self> {
        let libraries = experiment
            .libraries
            .iter()
            .map(|library| {
                let version = FileVersion::of(&library.path).ok();
                let hash = hash_file(&library.path)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot hash {}: {e}", library.path.display())))?;
                Ok(Library { name: library.name.clone(), path: library.path.clone(), hash, version })
            })
            .collect::<io::Result<_>>()?;
        Ok(Self { libraries })
    }

    /// The libraries, in the order of `[libraries]`.
    pub(crate) fn all(&self) -> &[Library] {
        &self.libraries
    }

    /// Checks that every library `cell`'s steps call is the one the experiment started with; the message
    /// naming the first that is not.
    pub(crate) fn check(&mut self, cell: &CellPlan) -> Result<(), String> {
        for library in &mut self.libraries {
            let called = cell.workload.steps.iter().any(|step| match step {
                Step::Call(function) => Path::new(&function.library) == library.path,
                _ => false,
            });
            if called {
                library.check()?;
            }
        }
        Ok(())
    }
}

impl Library {
    /// Whether the file is still the one hashed: by its version, else by its hash.
    fn check(&mut self) -> Result<(), String> {
        let now = FileVersion::of(&self.path).ok();
        if now.is_some() && now == self.version {
            return Ok(());
        }
        match hash_file(&self.path) {
            Ok(hash) if hash == self.hash => {
                self.version = now;
                Ok(())
            }
            Ok(hash) => Err(format!(
                "step library `{}` ({}) changed during the experiment: it was {} when the experiment started and is {hash} now",
                self.name,
                self.path.display(),
                self.hash
            )),
            Err(e) => Err(format!(
                "step library `{}` ({}) cannot be read any more ({e}); it was {} when the experiment started",
                self.name,
                self.path.display(),
                self.hash
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_or_replaced_file_is_another_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libexecutor.so");
        std::fs::write(&path, b"one").unwrap();
        let first = FileVersion::of(&path).unwrap();
        assert_eq!(FileVersion::of(&path).unwrap(), first);
        std::fs::write(&path, b"two, longer").unwrap();
        assert_ne!(FileVersion::of(&path).unwrap(), first);
        let replacement = dir.path().join("new.so");
        std::fs::write(&replacement, b"two, longer").unwrap();
        let written = FileVersion::of(&path).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        assert_ne!(FileVersion::of(&path).unwrap(), written);
        std::fs::remove_file(&path).unwrap();
        assert!(FileVersion::of(&path).is_err());
    }

    #[test]
    fn a_library_is_the_same_while_its_bytes_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libmine.so");
        std::fs::write(&path, b"build one").unwrap();
        let hash = hash_file(&path).unwrap();
        let mut library =
            Library { name: "mine".into(), path: path.clone(), hash, version: FileVersion::of(&path).ok() };
        assert_eq!(library.check(), Ok(()));
        // Written again with the same bytes: another version of the file, the same library.
        let copy = dir.path().join("copy.so");
        std::fs::write(&copy, b"build one").unwrap();
        std::fs::rename(&copy, &path).unwrap();
        assert_eq!(library.check(), Ok(()));
        assert_eq!(library.version, FileVersion::of(&path).ok());
        std::fs::write(&path, b"build two").unwrap();
        let changed = library.check().unwrap_err();
        assert!(changed.starts_with("step library `mine` ("), "{changed}");
        assert!(changed.contains("changed during the experiment"), "{changed}");
        std::fs::remove_file(&path).unwrap();
        assert!(library.check().unwrap_err().contains("cannot be read any more"));
    }
}
