//! The lock of a result folder: one harness at a time writes into it.
//!
//! `run` (from the moment it makes the folder), `run --resume` and `merge` hold an advisory lock (`flock`)
//! on [`files::LOCK`] in the folder for as long as they write into it; a second harness that asks for it
//! is refused at once, and told who holds it (what the holder wrote into the file: its pid, its command
//! line, when it started). The kernel drops the lock when its holder dies, however it dies, so a lock is
//! never stale. The file stays in the folder: removing it could let two harnesses lock two different files.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

use super::files;

/// A result folder locked by this harness until dropped.
#[derive(Debug)]
pub(crate) struct FolderLock {
    _file: File,
}

/// Who holds a lock, as written into the lock file.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    command: String,
    started: String,
}

/// The folder is locked by another harness (or cannot be locked): bad input, exit code 2.
#[derive(Debug)]
pub(crate) struct Locked {
    pub(crate) dir: PathBuf,
    /// Who holds it, as the holder described itself.
    pub(crate) holder: String,
}

impl Locked {
    pub(crate) fn diagnostic(&self) -> Diagnostic {
        Diagnostic::new(format!("{} is in use by another harness ({})", self.dir.display(), self.holder))
            .help("wait until it ends, or stop it; two harnesses writing into one result folder would duplicate runs")
    }
}

impl FolderLock {
    /// Locks the result folder `dir`, or says who holds it. The lock file is never followed if it is a
    /// symbolic link.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, Locked> {
        let path = dir.join(files::LOCK);
        let refused = |holder: String| Locked { dir: dir.to_owned(), holder };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| refused(format!("cannot open {}: {e}", path.display())))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(refused(format!("{} is not a regular file", path.display())));
        }
        if let Err(error) = crate::sys::try_lock(&file) {
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(refused(format!("cannot lock {}: {error}", path.display())));
            }
            return Err(refused(describe_holder(&mut file)));
        }
        let holder = Holder {
            pid: std::process::id(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        // Best effort: the lock holds whether or not the description is written.
        let _ = file.set_len(0).and_then(|()| {
            file.rewind()?;
            file.write_all(&serde_json::to_vec(&holder).expect("serializable"))
        });
        Ok(Self { _file: file })
    }
}

/// What the holder of a lock wrote about itself, read with a bound.
fn describe_holder(file: &mut File) -> String {
    let mut text = Vec::new();
    let _ = file.take(4096).read_to_end(&mut text);
    match serde_json::from_slice::<Holder>(&text) {
        Ok(h) => format!("pid {}, started {}, `{}`", h.pid, h.started, h.command),
        Err(_) => "a harness that has not said who it is yet".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder_and_granted_once_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file: a second open in the same process conflicts too.
        let refused = FolderLock::acquire(dir.path()).unwrap_err();
        assert!(refused.holder.starts_with(&format!("pid {}, started ", std::process::id())), "{}", refused.holder);
        assert!(refused.diagnostic().message.contains("is in use by another harness"));
        drop(first);
        FolderLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_symbolic_link_as_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join(files::LOCK)).unwrap();
        let refused = FolderLock::acquire(dir.path()).unwrap_err();
        assert!(refused.holder.starts_with("cannot open"), "{}", refused.holder);
        assert!(!dir.path().join("elsewhere").exists());
    }
}
