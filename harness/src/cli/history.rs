//! `harness history add | report | check`: the history file of results, its trends and its change points
//! ([`crate::history`]).

use std::path::Path;

use anyhow::Context as _;

use super::args::{HistoryCommand, SeriesArgs};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::history::checkout::Checkout;
use crate::history::series::{self, Filter, Series};
use crate::history::store::{Appended, Store};
use crate::history::{changes, render};
use crate::results::write_replacing;

/// Runs a `harness history` command; returns its exit code.
pub(super) fn history(command: HistoryCommand) -> Result<i32, Error> {
    match command {
        HistoryCommand::Add { path, dirs, commit, branch } => {
            let added = crate::history::add(&path, &dirs, &Checkout { commit, branch }).map_err(Error::input)?;
            for (dir, appended) in added {
                match appended {
                    Appended::Added(n) => crate::console::outln!("{}: added, {n} measurements", dir.display()),
                    Appended::Present => crate::console::outln!("{}: already in the history", dir.display()),
                }
            }
            Ok(0)
        }
        HistoryCommand::Report { path, out, series } => report(&path, &out, &read(&path, &series)?),
        HistoryCommand::Check { path, series } => {
            let all = read(&path, &series)?;
            crate::console::out!("{}", render::check(&all));
            Ok(i32::from(all.iter().any(|s| s.regression().is_some())))
        }
    }
}

/// The series of the history at `path` that `args` asks for; none is bad input.
fn read(path: &Path, args: &SeriesArgs) -> Result<Vec<Series>, Error> {
    let store = Store::open(path, false).map_err(|e| {
        Diagnostic::new(format!("{e:#}"))
            .help("make one with `harness history add PATH DIR...` or `harness run --history PATH`")
    })?;
    let records = store.records().map_err(|e| Diagnostic::new(format!("cannot read {}: {e:#}", path.display())))?;
    let filter = Filter {
        experiment: args.experiment.clone(),
        branch: args.branch.clone(),
        across_machines: args.across_machines,
        across_files: args.across_files,
    };
    let all = series::series(&records, &filter, &changes::Options::default());
    if all.is_empty() {
        let experiments: std::collections::BTreeSet<&str> = records.iter().map(|r| r.experiment.as_str()).collect();
        return Err(Diagnostic::new(format!(
            "{} has no results of the experiment and branch asked for",
            path.display()
        ))
        .expected(if experiments.is_empty() {
            "a history with results".to_owned()
        } else {
            format!("results of {}", experiments.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", "))
        })
        .help("drop --experiment or --branch, or add results with `harness history add`")
        .into());
    }
    Ok(all)
}

/// Writes `out/index.html`, `out/history.md` and `out/charts/*.svg`.
fn report(path: &Path, out: &Path, all: &[Series]) -> Result<i32, Error> {
    let charts_dir = out.join(crate::results::files::CHARTS);
    std::fs::create_dir_all(&charts_dir).with_context(|| format!("cannot create {}", charts_dir.display()))?;
    // The charts of an earlier report go: their numbers may now name other series.
    for entry in std::fs::read_dir(&charts_dir).with_context(|| format!("cannot read {}", charts_dir.display()))? {
        let path = entry.with_context(|| format!("cannot read {}", charts_dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "svg") {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    let mut charts = Vec::new();
    for (i, series) in all.iter().enumerate() {
        let figure = render::figure(series, i);
        let svg =
            crate::report::svg::render(&figure).map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", figure.file))?;
        let file = charts_dir.join(format!("{}.svg", figure.file));
        write_replacing(&file, svg.as_bytes()).with_context(|| format!("cannot write {}", file.display()))?;
        charts.push((figure, svg));
    }
    let figures: Vec<_> = charts.iter().map(|(f, _)| f.clone()).collect();
    let html = out.join("index.html");
    write_replacing(&html, render::html(all, &charts).as_bytes())
        .with_context(|| format!("cannot write {}", html.display()))?;
    let markdown = out.join("history.md");
    write_replacing(&markdown, render::markdown(all, &figures).as_bytes())
        .with_context(|| format!("cannot write {}", markdown.display()))?;
    crate::console::errln!("{}: {} series", path.display(), all.len());
    crate::console::outln!("{}", html.display());
    Ok(0)
}
