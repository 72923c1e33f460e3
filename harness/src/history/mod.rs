//! The history of results: every finished result appended to one `SQLite` file, keyed by experiment, cell,
//! metric, commit, branch, time and machine; then, per series, the trend over commits and the points where
//! it changed.
//!
//! - `checkout.rs`: the commit and branch of a result (flags, CI variables, the git checkout).
//! - `record.rs`: a result folder read as a [`record::Record`]: per cell and gated metric, its runs'
//!   values; the machine's fingerprint.
//! - `store.rs`: the file: one transaction per result, several writers at once.
//! - `series.rs`: records into series (only comparable results: the same experiment, file and machine
//!   unless told otherwise), one point per commit, and their changes.
//! - `changes.rs`: E-divisive means, the change-point detector.
//! - `render.rs`: the trend charts, the HTML page, the Markdown summary and the check's table.

pub(crate) mod changes;
pub(crate) mod checkout;
pub(crate) mod record;
pub(crate) mod render;
pub(crate) mod series;
pub(crate) mod store;

use std::path::{Path, PathBuf};

use checkout::Checkout;
use store::{Appended, Store};

/// Reads every result folder of `dirs`, then appends each to the history at `path` (created when
/// missing), each in its own transaction. A folder that cannot be read stops it before anything is added.
pub(crate) fn add(path: &Path, dirs: &[PathBuf], flags: &Checkout) -> anyhow::Result<Vec<(PathBuf, Appended)>> {
    let records: Vec<_> = dirs.iter().map(|dir| record::read(dir, flags)).collect::<anyhow::Result<_>>()?;
    let mut store = Store::open(path, true)?;
    let mut added = Vec::new();
    for (dir, record) in dirs.iter().zip(&records) {
        let appended = store.append(record).map_err(|e| e.context(format!("cannot append {}", dir.display())))?;
        added.push((dir.clone(), appended));
    }
    Ok(added)
}

/// Notes `checkout` in the `environment.json` of the result folder `dir`, for a later `history add`.
pub(crate) fn note_checkout(dir: &Path, checkout: &Checkout) -> std::io::Result<()> {
    let mut environment = crate::results::Environment::read(dir)?;
    let value = serde_json::to_value(checkout).map_err(std::io::Error::other)?;
    environment.extra.insert(record::CHECKOUT_KEY.to_owned(), value);
    environment.write(dir)
}
