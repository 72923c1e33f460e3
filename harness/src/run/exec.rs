//! The child's side of a run, `harness __exec DIR TOKEN`: read the request, load the plugin, run it, write
//! the response. The files in `DIR` are the whole protocol between the parent and the child.
//!
//! One folder serves every run, and its files are overwritten in place, never emptied first: a file
//! truncated to nothing gives its blocks back, which on a file system mounted with `discard` waits for the
//! disk, each run. So a response carries the token of the run it answers ([`Response`]), and one with
//! another token is an earlier run's, left there by a run that wrote none.

use std::path::{Path, PathBuf};

#[cfg(doc)]
use harness_sdk::protocol::{RunReport, RunRequest};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::plugin::{CallOutcome, Library};

/// The parent writes this file for the child to read.
pub(super) const REQUEST: &str = "request.json";
/// The child writes this file for the parent to read.
pub(super) const RESPONSE: &str = "response.json";

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct ExecRequest {
    pub library: PathBuf,
    /// The [`RunRequest`], as the JSON the plugin reads: passed on as it is, never parsed by the run's
    /// process.
    pub request: Box<RawValue>,
    /// Names the run: its response carries it back.
    pub token: u64,
}

/// What the run's process writes to [`RESPONSE`]: the response and the token of the run it answers.
#[derive(Serialize, Deserialize)]
pub(super) struct Response {
    pub token: u64,
    pub response: ExecResponse,
}

/// How the run went. The report is the plugin's JSON, passed on as it is: the harness reads it into a
/// [`RunReport`]. (Tagged from outside, since a tag inside would have serde buffer the report.)
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ExecResponse {
    Ok { report: Box<RawValue> },
    Failed { error: String },
    Panicked { error: String },
}

/// The body of `harness __exec DIR TOKEN`. Starts no thread before the plugin runs, so executors may fork.
pub(crate) fn exec_main(dir: &Path, token: u64) -> i32 {
    respond(dir, token, None, None)
}

/// Runs the request and writes the response into `dir`; returns the exit code of the run's process. The
/// request is `given` (a fork server's copy has it from the server), else read from `dir`; the library is
/// `loaded` when this process has it open already (a copy again), else opened here.
pub(super) fn respond(dir: &Path, token: u64, given: Option<&ExecRequest>, loaded: Option<&Library>) -> i32 {
    let response = match exec(dir, given, loaded) {
        Ok(response) => response,
        Err(error) => ExecResponse::Failed { error },
    };
    write_response(dir, token, response)
}

/// Writes the response of the run `token` into `dir`; returns the exit code of the run's process.
pub(super) fn write_response(dir: &Path, token: u64, response: ExecResponse) -> i32 {
    let bytes = serde_json::to_vec(&Response { token, response }).expect("serializable");
    match overwrite(&dir.join(RESPONSE), &bytes) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write the run's response: {e}");
            3
        }
    }
}

/// Makes the file at `path` hold `bytes`, written over what it held: unlike `std::fs::write`, this frees no
/// block the new content needs (see the module documentation). What is left of a longer old content becomes
/// spaces, which JSON reads as nothing (cutting the file costs more than writing them), unless it is more
/// than a few kilobytes.
pub(super) fn overwrite(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    const MOST_SPACES: u64 = 4096;
    let mut file = std::fs::File::options().create(true).write(true).truncate(false).open(path)?;
    let left_over = file.metadata()?.len().saturating_sub(bytes.len() as u64);
    file.write_all(bytes)?;
    match left_over {
        0 => Ok(()),
        1..=MOST_SPACES => file.write_all(&vec![b' '; left_over as usize]),
        _ => file.set_len(bytes.len() as u64),
    }
}

fn exec(dir: &Path, given: Option<&ExecRequest>, loaded: Option<&Library>) -> Result<ExecResponse, String> {
    let read;
    let exec = if let Some(exec) = given {
        exec
    } else {
        let bytes = std::fs::read(dir.join(REQUEST)).map_err(|e| format!("cannot read the run request: {e}"))?;
        read = serde_json::from_slice::<ExecRequest>(&bytes).map_err(|e| format!("malformed run request: {e}"))?;
        &read
    };
    let opened;
    let library = match loaded {
        Some(library) if library.path() == exec.library => library,
        Some(library) => {
            return Err(format!(
                "the run asks for {}, and its process has {} loaded",
                exec.library.display(),
                library.path().display()
            ));
        }
        None => {
            opened = Library::open(&exec.library).map_err(|e| e.to_string())?;
            &opened
        }
    };
    Ok(match library.run(exec.request.get().as_bytes()) {
        // Only checked to be JSON here; what it says is the harness's to read.
        CallOutcome::Ok(bytes) => match serde_json::from_slice::<Box<RawValue>>(&bytes) {
            Ok(report) => ExecResponse::Ok { report },
            Err(e) => ExecResponse::Failed { error: format!("the executor returned a malformed report: {e}") },
        },
        CallOutcome::Error(error) => ExecResponse::Failed { error },
        CallOutcome::Panic(error) => ExecResponse::Panicked { error: format!("executor panicked: {error}") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shorter content written over a longer one reads as itself: what is left over is blanks, or is
    /// cut off when it is long.
    #[test]
    fn a_file_written_over_holds_the_new_content_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESPONSE);
        overwrite(&path, br#"{"token":1,"a":"a longer content"}"#).unwrap();
        overwrite(&path, br#"{"token":2}"#).unwrap();
        let read: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read, serde_json::json!({ "token": 2 }));
        assert_eq!(std::fs::read(&path).unwrap().len(), r#"{"token":1,"a":"a longer content"}"#.len());

        overwrite(&path, &vec![b' '; 10_000]).unwrap();
        overwrite(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
    }
}
