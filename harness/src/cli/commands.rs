//! What each command does: one function per command, called by [`super::dispatch`], and the helpers they
//! share. The `run` command composes [`crate::pipeline`] per experiment file, then exports and gates.

use std::fmt::Write as _;

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::experiment::{self, Experiment};
use crate::pipeline::{self, Progress};
use crate::plugin::{Registry, SearchPath};
use crate::results::{self, NotAResultFolder, files};
use crate::run::{self, Shard};

use super::args::Exports;

/// The arguments of `harness run`.
pub(super) struct RunArgs {
    pub(super) files: Vec<PathBuf>,
    pub(super) out: PathBuf,
    pub(super) quiet: bool,
    pub(super) shard: Option<Shard>,
    pub(super) resume: Option<PathBuf>,
    pub(super) baseline: Option<PathBuf>,
    pub(super) threshold: Option<String>,
    pub(super) spawn: crate::run::Spawn,
    pub(super) exports: Exports,
    pub(super) history: Option<PathBuf>,
    pub(super) checkout: super::args::CheckoutArgs,
}

/// `harness run`: checks every file, then runs each experiment, exports it and gates it on the baseline.
pub(super) fn run(args: &RunArgs, search: &SearchPath) -> Result<i32, Error> {
    if args.files.len() > 1 && (args.baseline.is_some() || args.exports.any()) {
        return Err(Diagnostic::new("--baseline and --export-* take one experiment file")
            .help("run each file on its own to compare or export it")
            .into());
    }
    let threshold = args.threshold.as_deref().map(parse_threshold).transpose()?;
    let baseline = args.baseline.as_deref().map(resolve_baseline).transpose()?;
    let experiments = load_all(&args.files, search)?;
    check_comparisons(args, &experiments)?;
    let shard = match &args.resume {
        Some(dir) => resumed_shard(dir, &args.files, &experiments, shard_asked(args.shard)?)?,
        None => shard_asked(args.shard)?,
    };
    // A shard from --shard or from the Slurm array variables alike.
    if let (Some(shard), Some(experiment)) = (shard, experiments.iter().find(|e| e.rounds.is_range())) {
        return Err(Diagnostic::new(format!(
            "{} runs a range of repetitions, which stops when every comparison is decided, and shard {shard} \
             would split its runs between machines",
            experiment.path.display()
        ))
        .help("run it whole (without --shard, or outside a Slurm job array), or give it a fixed count of repetitions")
        .into());
    }
    // A history that cannot take the results is found before anything is measured.
    for experiment in &experiments {
        if let Some(path) = history_of(args, experiment) {
            open_history(&path)?;
        }
    }
    let progress = if args.quiet { Progress::Quiet } else { Progress::Auto };
    let (mut failed, mut regressed) = (false, false);
    for (file, experiment) in args.files.iter().zip(&experiments) {
        let gated = gate_of(experiment, threshold);
        // A range of repetitions runs until its paired comparisons are decided.
        let undecided = |dir: &Path, look: u32| -> anyhow::Result<Vec<String>> {
            if gated.baseline.is_none() {
                return Ok(Vec::new());
            }
            Ok(crate::compare::compare_paired(dir, &gated, experiment.rounds, Some(look))?.undecided_cells())
        };
        let options = pipeline::Options {
            out: &args.out,
            progress,
            shard,
            resume: args.resume.as_deref(),
            spawn: args.spawn,
            decide: Some(pipeline::Decide(&undecided)),
        };
        let summary = pipeline::run(experiment, options)?;
        if summary.interrupted {
            return Ok(interrupted(file, experiment, &summary, args.history.as_deref()));
        }
        failed |= summary.failed > 0;
        // A resumed folder reports the runs of all its invocations, as the run that made it would have.
        if args.resume.is_some() && summary.failed == 0 {
            let runs = crate::results::Runs::read(&summary.dir.join(files::RUNS));
            let earlier = runs.map_or(0, |r| r.rows.iter().filter(|row| !row.ok()).count());
            if earlier > 0 {
                failed = true;
                crate::console::errln!(
                    "{}: {earlier} runs of {} failed; see the status and error columns of runs.csv",
                    experiment.name,
                    summary.dir.display()
                );
            }
        }
        write_exports(&args.exports, &summary.dir)?;
        append_to_history(args, experiment, &summary.dir)?;
        if let Some(baseline) = &baseline {
            regressed |= gate(baseline, &summary.dir, experiment, threshold)?;
        } else if experiment.gate.baseline.is_some() {
            regressed |= gate_paired(&summary.dir, experiment, threshold)?;
        }
        warn_failed(experiment, &summary);
        say_where_cells_stopped(experiment, &summary, progress);
        crate::console::outln!("{}", summary.dir.display());
    }
    Ok(i32::from(failed || regressed))
}

/// Notes the run's commit and branch in its `environment.json`, and appends the result to the history
/// file of `--history` or `[ci] history`, if any.
fn append_to_history(args: &RunArgs, experiment: &Experiment, dir: &Path) -> Result<(), Error> {
    use crate::history::checkout::Checkout;
    let flags = Checkout { commit: args.checkout.commit.clone(), branch: args.checkout.branch.clone() };
    let checkout = Checkout::of_run(flags, &experiment.path);
    if let Err(e) = crate::history::note_checkout(dir, &checkout) {
        crate::console::errln!("warning: {}: cannot note the commit in environment.json: {e}", dir.display());
    }
    let Some(path) = history_of(args, experiment) else {
        return Ok(());
    };
    let added = crate::history::add(&path, &[dir.to_owned()], &checkout).map_err(|e| {
        anyhow::anyhow!(
            "cannot append the result to the history {}: {e:#}\n  the result is in {}; once the cause is fixed, add it \
             with\n  {} history add {} {}",
            path.display(),
            dir.display(),
            crate::console::invoked_as(),
            path.display(),
            dir.display()
        )
    })?;
    if let [(_, crate::history::store::Appended::Added(n))] = added.as_slice() {
        crate::console::errln!("{}: {n} measurements appended to {}", experiment.name, path.display());
    }
    Ok(())
}

/// The history file of a run: `--history`, else the experiment's `[ci] history` (relative to its file).
fn history_of(args: &RunArgs, experiment: &Experiment) -> Option<PathBuf> {
    let folder = experiment.path.parent().unwrap_or(Path::new(""));
    args.history.clone().or_else(|| experiment.gate.history.as_ref().map(|h| folder.join(h)))
}

/// Opens the history at `path`, made when missing (with its folder): bad input when it cannot be.
fn open_history(path: &Path) -> Result<(), Error> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let made = parent.map_or(Ok(()), std::fs::create_dir_all).map_err(anyhow::Error::from);
    made.and_then(|()| crate::history::store::Store::open(path, true).map(drop)).map_err(|e| {
        Diagnostic::new(format!("cannot use {} as the history: {e:#}", path.display()))
            .expected(
                "a history file made by `harness history add` or `harness run --history`, or a path for a new one",
            )
            .help("give another path with --history PATH, or remove the file if it is not a history")
            .into()
    })
}

/// The `--baseline` folder, checked and made absolute. Resolved before the run moves `latest` to the new
/// folder, so `--baseline results/NAME/latest` means the previous result.
fn resolve_baseline(dir: &Path) -> Result<PathBuf, Error> {
    results::open::check(dir)?;
    std::fs::canonicalize(dir).map_err(|_| NotAResultFolder { dir: dir.to_owned(), reason: None }.into())
}

/// The shard asked for: `--shard`, else the Slurm array variables, else none.
fn shard_asked(shard: Option<Shard>) -> Result<Option<Shard>, Error> {
    match shard {
        Some(shard) => Ok(Some(shard)),
        None => Shard::from_slurm(|name| std::env::var(name).ok())
            .map_err(|e| Diagnostic::new(e).help("unset the Slurm array variables, or pass --shard K/N").into()),
    }
}

/// The shard to run when resuming `dir`: one experiment, the same file, the shard the folder holds.
fn resumed_shard(
    dir: &Path,
    files: &[PathBuf],
    experiments: &[Experiment],
    shard: Option<Shard>,
) -> Result<Option<Shard>, Error> {
    let [experiment] = experiments else {
        return Err(Diagnostic::new("--resume continues one experiment, but several files were given")
            .help("resume each result folder with its own experiment file")
            .into());
    };
    results::resume::shard(dir, &files[0], experiment, shard)
}

/// Says where an interrupted run's results are and how to finish them; returns the exit code 130.
fn interrupted(file: &Path, experiment: &Experiment, summary: &pipeline::Summary, history: Option<&Path>) -> i32 {
    crate::console::outln!("{}", summary.dir.display());
    let signal = run::interrupted_by().map_or("a signal", crate::process::signal_name);
    crate::console::errln!(
        "{}: interrupted by {signal}: {} measured runs are in {}, {} are left; finish them with\n  {} run {} --resume {}{}",
        experiment.name,
        summary.measured,
        summary.dir.display(),
        summary.remaining,
        crate::console::invoked_as(),
        file.display(),
        summary.dir.display(),
        history.map(|h| format!(" --history {}", h.display())).unwrap_or_default()
    );
    130
}

/// Compares a finished run with the baseline (`--threshold` over the experiment's `[ci]`); true when
/// something regressed.
fn gate(baseline: &Path, current: &Path, experiment: &Experiment, threshold: Option<f64>) -> Result<bool, Error> {
    let gate = gate_of(experiment, threshold);
    let comparison = crate::compare::compare(baseline, current, &gate, experiment.seed, experiment.rounds)?;
    nothing_matched(&comparison)?;
    Ok(report_comparison(&comparison, current)?)
}

/// A comparison is either paired (`[ci] baseline`) or with `--baseline DIR`, and `--threshold` needs one;
/// a range of repetitions decides when to stop from all of a run's rounds, so it is not split into shards.
fn check_comparisons(args: &RunArgs, experiments: &[Experiment]) -> Result<(), Error> {
    for experiment in experiments {
        if args.baseline.is_some() && experiment.gate.baseline.is_some() {
            return Err(Diagnostic::new(format!(
                "{} compares its own versions (`[ci] baseline`), and --baseline asks for another comparison",
                experiment.path.display()
            ))
            .help("drop --baseline to compare paired, or compare two folders later with `harness compare BASELINE CURRENT`")
            .into());
        }
        if args.threshold.is_some() && args.baseline.is_none() && experiment.gate.baseline.is_none() {
            return Err(Diagnostic::new("--threshold sets the threshold of a comparison, and there is none")
                .help("add --baseline DIR, or `[ci] baseline = { AXIS = VALUE }` to the experiment file")
                .into());
        }
        if experiment.rounds.is_range() && args.baseline.is_some() {
            return Err(Diagnostic::new(format!(
                "{} runs a range of repetitions, which stops when its paired comparisons (`[ci] baseline`) are \
                 decided, and --baseline compares it with another folder only once it is done",
                experiment.path.display()
            ))
            .help("give it a fixed count of repetitions to compare it with --baseline, or compare paired")
            .into());
        }
    }
    Ok(())
}

/// The experiment's gate, with `--threshold` over its `[ci] threshold`.
fn gate_of(experiment: &Experiment, threshold: Option<f64>) -> crate::experiment::gate::Gate {
    let mut gate = experiment.gate.clone();
    if let Some(threshold) = threshold {
        gate.default = threshold;
    }
    gate
}

/// For a range of repetitions: how many rounds the cells ran, and which reached `max` undecided.
fn say_where_cells_stopped(experiment: &Experiment, summary: &pipeline::Summary, progress: Progress) {
    if summary.stopped.is_empty() || progress == Progress::Quiet {
        return;
    }
    let mut by_rounds: std::collections::BTreeMap<(u32, bool), usize> = std::collections::BTreeMap::new();
    for stopped in &summary.stopped {
        *by_rounds.entry((stopped.rounds, stopped.decided)).or_default() += 1;
    }
    let parts: Vec<String> = by_rounds
        .iter()
        .map(|(&(rounds, decided), &cells)| {
            let how = if decided { "decided" } else { "ran to the end" };
            format!("{cells} after {rounds} rounds ({how})")
        })
        .collect();
    crate::console::errln!(
        "{}: repetitions from {} to {}: cells stopped {}; environment.json lists each",
        experiment.name,
        experiment.rounds.min,
        experiment.rounds.max,
        parts.join(", ")
    );
}

/// Compares the versions of a finished paired run (`--threshold` over the experiment's `[ci]`); true when
/// the gate fails.
fn gate_paired(dir: &Path, experiment: &Experiment, threshold: Option<f64>) -> Result<bool, Error> {
    let gate = gate_of(experiment, threshold);
    let comparison = crate::compare::compare_paired(dir, &gate, experiment.rounds, None)?;
    nothing_matched(&comparison)?;
    Ok(report_comparison(&comparison, dir)?)
}

/// Says how many runs failed, if any.
fn warn_failed(experiment: &Experiment, summary: &pipeline::Summary) {
    if summary.failed == 0 {
        return;
    }
    let warmups = match summary.failed_warmups {
        0 => String::new(),
        n => format!(" ({n} of them warmup runs, which runs.csv does not keep)"),
    };
    crate::console::errln!(
        "{}: {} runs failed{warmups}; see the status and error columns of runs.csv",
        experiment.name,
        summary.failed
    );
}

/// Writes the exports asked for of the result folder `dir`.
fn write_exports(exports: &Exports, dir: &Path) -> anyhow::Result<()> {
    type Writer = fn(&Path, &Path) -> anyhow::Result<()>;
    let writers: [(&Option<PathBuf>, Writer); 4] = [
        (&exports.export_json, crate::export::json),
        (&exports.export_markdown, crate::export::markdown),
        (&exports.export_bmf, crate::export::bencher),
        (&exports.export_github_benchmark, crate::export::github_benchmark),
    ];
    for (path, write) in writers {
        if let Some(path) = path {
            write(dir, path)?;
        }
    }
    Ok(())
}

/// `harness compare DIR` (paired) or `harness compare BASELINE CURRENT`.
pub(super) fn compare(
    baseline: &Path,
    current: Option<&Path>,
    threshold: Option<&str>,
    out: Option<&Path>,
) -> Result<i32, Error> {
    let paired = current.is_none();
    let current = current.unwrap_or(baseline);
    results::open::check(baseline)?;
    let source = results::open::experiment_source(current)?;
    let mut gate = experiment::gate_of_source(&source)
        .map_err(|e| Diagnostic::new(format!("the [ci] table of {}/experiment.toml: {e}", current.display())))?;
    if let Some(threshold) = threshold {
        gate.default = parse_threshold(threshold)?;
    }
    let plan = experiment::repetitions::of_source(&source);
    let comparison = if paired {
        if gate.baseline.is_none() {
            return Err(Diagnostic::new(format!(
                "{} is one result folder, and its experiment has no `[ci] baseline` to compare its versions by",
                current.display()
            ))
            .expected("a result folder of an experiment with `[ci] baseline = { AXIS = VALUE }`, or two result folders")
            .help("compare two folders with `harness compare BASELINE CURRENT`")
            .into());
        }
        crate::compare::compare_paired(current, &gate, plan, None).map_err(Error::input)?
    } else {
        let seed = results::Environment::read_or_default(current).experiment.seed.unwrap_or(0);
        crate::compare::compare(baseline, current, &gate, seed, plan).map_err(Error::input)?
    };
    nothing_matched(&comparison)?;
    let failed = report_comparison(&comparison, out.unwrap_or(current))?;
    Ok(i32::from(failed))
}

/// `harness export DIR --export-*`.
pub(super) fn export(dir: &Path, exports: &Exports) -> Result<i32, Error> {
    if !exports.any() {
        return Err(Diagnostic::new("nothing to export")
            .help("add --export-json, --export-markdown, --export-bmf or --export-github-benchmark")
            .into());
    }
    results::open::check(dir)?;
    write_exports(exports, dir).map_err(Error::input)?;
    warn_of_cut_row(dir);
    Ok(0)
}

/// Warns when the result folder `dir`'s runs.csv ends in a row cut short, which was left out.
fn warn_of_cut_row(dir: &Path) {
    let runs = crate::results::Runs::read(&dir.join(files::RUNS));
    if let Some(warning) = runs.ok().and_then(|r| r.cut_warning()) {
        crate::console::errln!("warning: {warning}");
    }
}

/// `harness report DIR...`: draws the charts and reports of each folder again.
pub(super) fn report(dirs: &[PathBuf], reference: Option<&str>) -> Result<i32, Error> {
    let mut problems = 0;
    for dir in dirs {
        // What stops a report is the folder it was given: bad input, as for the other commands.
        let mut report = pipeline::read_report(dir).map_err(|e| match e {
            Error::Runtime(e) => Error::from(Diagnostic::new(format!("{e:#}"))),
            input @ Error::Input(_) => input,
        })?;
        warn_of_cut_row(dir);
        let executors: Vec<&str> = report.cells.iter().map(|c| c.executor.as_str()).collect();
        // The default may be absent (the report then says so); an executor asked for by name must be there.
        if let Some(reference) = reference.filter(|r| !executors.contains(r)) {
            let mut known = executors.clone();
            known.sort_unstable();
            known.dedup();
            return Err(Diagnostic::new(format!(
                "--reference {reference}: {} has no cell of that executor",
                dir.display()
            ))
            .expected(format!("one of {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")))
            .did_you_mean(reference, known.iter().copied())
            .into());
        }
        if let Some(reference) = reference {
            report.set_reference(reference);
        }
        let written = crate::report::write(dir, &report)
            .map_err(|e| anyhow::anyhow!("cannot write the report into {}: {e}", dir.display()))?;
        for problem in &written.problems {
            crate::console::errln!("warning: {}: {problem}", dir.display());
        }
        problems += written.problems.len();
        crate::console::outln!("{}", dir.join(files::REPORT_MD).display());
    }
    Ok(i32::from(problems > 0))
}

/// `harness merge DIR... --out DIR`: joins shards, then summarizes and draws the merged folder.
pub(super) fn merge(dirs: &[PathBuf], out: &Path) -> Result<i32, Error> {
    // What stops a merge is the folders it was given: bad input.
    let report = crate::merge::merge(dirs, out).map_err(Error::input)?;
    if let Err(e) = pipeline::write_summary(out) {
        let why = match e {
            Error::Input(d) => d.message,
            Error::Runtime(e) => format!("{e:#}"),
        };
        crate::console::errln!("warning: {}: cannot write summary.csv: {why}", out.display());
    }
    draw_report(out);
    crate::console::outln!("{}", out.display());
    crate::console::errln!("merged {} shards: {} of {} planned runs", report.shards, report.merged, report.planned);
    // The first 20 of a list, then how many more: a damaged folder may have thousands.
    let list = |runs: Vec<String>| match runs.len() {
        n if n > 20 => format!("{} and {} more", runs[..20].join(", "), n - 20),
        _ => runs.join(", "),
    };
    if report.missing_count > 0 {
        let more = report.missing_count - report.missing.len() as u64;
        crate::console::errln!(
            "missing {} runs (cell/repetition): {}{}",
            report.missing_count,
            list(report.missing.iter().map(|(c, r)| format!("{c}/{r}")).collect()),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
    }
    if !report.duplicated.is_empty() {
        crate::console::errln!(
            "duplicated {} runs (cell/repetition x copies), the first copy kept: {}",
            report.duplicated.len(),
            list(report.duplicated.iter().map(|((c, r), n)| format!("{c}/{r} x{n}")).collect())
        );
    }
    for warning in &report.cut {
        crate::console::errln!("warning: {warning}");
    }
    if !report.outside.is_empty() {
        crate::console::errln!(
            "warning: left out {} rows of runs the experiment does not plan (cell/repetition): {}",
            report.outside.len(),
            list(report.outside.iter().map(|(c, r)| format!("{c}/{r}")).collect())
        );
    }
    Ok(i32::from(report.missing_count > 0 || !report.duplicated.is_empty() || !report.outside.is_empty()))
}

/// `harness validate FILE...`.
pub(super) fn validate(files: &[PathBuf], search: &SearchPath) -> Result<i32, Error> {
    for (file, experiment) in files.iter().zip(load_all(files, search)?) {
        let (runs, up_to) = planned_runs(&experiment);
        crate::console::outln!("{}: ok, {} cells, {up_to}{runs} runs", file.display(), experiment.cells.len());
    }
    Ok(0)
}

/// How many runs `experiment` plans, and `"up to "` when that is a bound: the rounds are a range, or a
/// cell searches for a rate (its measured runs are as many probes as the search needs, up to
/// [`crate::search::MAX_PROBES`]).
fn planned_runs(experiment: &Experiment) -> (u64, &'static str) {
    let repetitions = u64::from(experiment.repetitions);
    let runs = experiment
        .cells
        .iter()
        .map(|cell| {
            u64::from(experiment.warmup)
                + if cell.search.is_some() { crate::search::MAX_PROBES as u64 } else { repetitions }
        })
        .sum();
    let bound = experiment.rounds.is_range() || experiment.cells.iter().any(|c| c.search.is_some());
    (runs, if bound { "up to " } else { "" })
}

/// `harness plan FILE`.
pub(super) fn plan(file: &Path, search: &SearchPath) -> Result<i32, Error> {
    let experiment = load_all(&[file.to_owned()], search)?.remove(0);
    crate::console::out!("{}", plan_table(&experiment));
    Ok(0)
}

/// `harness list`.
pub(super) fn list(files: &[PathBuf], search: &SearchPath) -> Result<i32, Error> {
    crate::console::out!("{}", list_table(&Registry::discover(search)));
    for experiment in load_all(files, search)? {
        crate::console::outln!("\nstep libraries of {}:", experiment.path.display());
        if experiment.libraries.is_empty() {
            crate::console::outln!("  none");
        }
        for library in &experiment.libraries {
            crate::console::outln!(
                "  {} = {}\n      functions: {}",
                library.name,
                library.path.display(),
                library.functions.as_deref().unwrap_or_default().join(", ")
            );
        }
    }
    Ok(0)
}

/// `harness schema`.
pub(super) fn schema(search: &SearchPath) -> i32 {
    let schema = crate::schema::schema(&Registry::discover(search));
    crate::console::outln!("{}", serde_json::to_string_pretty(&schema).expect("serializable"));
    0
}

/// Loads and checks every file before anything runs, printing each file's lint warnings.
fn load_all(files: &[PathBuf], search: &SearchPath) -> Result<Vec<Experiment>, Diagnostic> {
    let discovered = Registry::discover(search);
    files
        .iter()
        .map(|file| {
            // Each file's [plugins] apply to that file only.
            let mut registry = discovered.clone();
            let experiment = experiment::load(file, &mut registry)?;
            for warning in experiment::lints::warnings(&experiment) {
                crate::console::errln!("warning: {}: {warning}", file.display());
            }
            Ok(experiment)
        })
        .collect()
}

fn parse_threshold(text: &str) -> Result<f64, Error> {
    crate::experiment::gate::parse_percent(text)
        .map_err(|e| Diagnostic::new(format!("--threshold: {e}")).expected("a percentage such as 5%").into())
}

/// A comparison with no cell on both sides compares nothing: bad input, not a pass.
fn nothing_matched(comparison: &crate::compare::Comparison) -> Result<(), Error> {
    if comparison.matched > 0 {
        return Ok(());
    }
    if let crate::compare::Mode::Paired { axis, baseline, .. } = &comparison.mode {
        return Err(Diagnostic::new(format!(
            "no cell of {} has a partner: no other value of `{axis}` runs with the same values of the other axes as \
             a cell of `{axis} = {baseline}`",
            comparison.current.display()
        ))
        .expected(format!("cells that differ only in `{axis}` (and in keys `include` adds)"))
        .help("every other value of the axis is compared with the baseline's cell of the same other values")
        .into());
    }
    let first = |cells: &[String]| cells.first().map_or_else(|| "none".to_owned(), |c| format!("`{c}`"));
    Err(Diagnostic::new(format!(
        "no cell of {} matches a cell of {}: there is nothing to compare",
        comparison.baseline.display(),
        comparison.current.display()
    ))
    .expected("two result folders of the same experiment, whose cells have the same axis values")
    .help(format!(
        "cells are matched by their axis values; the baseline's first is {}, the current's first is {}",
        first(&comparison.only_in_baseline),
        first(&comparison.only_in_current)
    ))
    .into())
}

/// Prints a comparison (its warnings to standard error), writes compare.md and compare.json into `out`; true when something regressed.
fn report_comparison(comparison: &crate::compare::Comparison, out: &std::path::Path) -> anyhow::Result<bool> {
    use anyhow::Context as _;
    crate::console::out!("{}", crate::compare::table(comparison));
    for warning in &comparison.warnings {
        crate::console::errln!("warning: {warning}");
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    results::write_replacing(&out.join(files::COMPARE_MD), crate::compare::markdown(comparison).as_bytes())
        .context("cannot write compare.md")?;
    let mut json = serde_json::to_vec_pretty(comparison)?;
    json.push(b'\n');
    results::write_replacing(&out.join(files::COMPARE_JSON), &json).context("cannot write compare.json")?;
    Ok(comparison.fails())
}

/// Draws the charts and reports of a result folder that was just made; a failure is only a warning.
fn draw_report(dir: &std::path::Path) {
    let problems = match pipeline::read_report(dir) {
        Ok(report) => match crate::report::write(dir, &report) {
            Ok(written) => written.problems,
            Err(e) => vec![format!("cannot write the charts and reports: {e}")],
        },
        Err(Error::Input(d)) => vec![format!("cannot draw the charts and reports: {}", d.message)],
        Err(Error::Runtime(e)) => vec![format!("cannot draw the charts and reports: {e:#}")],
    };
    for problem in problems {
        crate::console::errln!("warning: {}: {problem}", dir.display());
    }
}

fn plan_table(experiment: &Experiment) -> String {
    let (runs, up_to) = planned_runs(experiment);
    let memory = experiment.memory_limit.map(|m| format!("; memory limit {} per run", crate::fmt::format_size(m)));
    let mut repetitions = match experiment.rounds {
        r if r.is_range() => format!("{} to {} repetitions", r.min, r.max),
        r => format!("{} repetitions", r.max),
    };
    if experiment.cells.iter().any(|c| c.search.is_some()) {
        let _ = write!(repetitions, " or a search's probes");
    }
    let mut out = format!(
        "{}: {} cells x ({} warmup + {repetitions}) = {up_to}{} runs; timeout {} per run{}; order {}\n\n",
        experiment.name,
        experiment.cells.len(),
        experiment.warmup,
        runs,
        crate::fmt::format_duration(experiment.timeout),
        memory.unwrap_or_default(),
        serde_json::to_value(experiment.order).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    );
    let searching = experiment.cells.iter().filter(|c| c.search.is_some()).count();
    if searching > 0 {
        let _ = writeln!(
            out,
            "{searching} of the cells search for a rate: their measured runs are the search's probes, as many as it \
             needs (up to {}), in the place of the repetitions\n",
            crate::search::MAX_PROBES
        );
    }
    let mut header = vec!["#".to_owned()];
    header.extend(experiment.columns.iter().cloned());
    // Upper case: resolved from the cell, not axes of the matrix.
    header.extend(["TASKS", "STEPS", "OPTIONS"].map(str::to_owned));
    let mut rows = vec![header];
    for (i, cell) in experiment.cells.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        row.extend(experiment.columns.iter().map(|c| cell.value(c)));
        row.push(match cell.search.as_ref().map(|s| s.bound) {
            Some(crate::search::Bound::Duration(s)) => {
                format!("rate x {}", crate::fmt::format_duration(std::time::Duration::from_secs_f64(s)))
            }
            _ => cell.workload.tasks.to_string(),
        });
        row.push(cell.workload.steps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        let options: Vec<String> = cell
            .options
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        row.push(options.join(" "));
        rows.push(row);
    }
    out.push_str(&crate::fmt::table(&rows));
    out
}

fn list_table(registry: &Registry) -> String {
    let mut rows = vec![["NAME", "VERSION", "ABI", "FILE"].map(str::to_owned).to_vec()];
    for (name, info) in registry.iter() {
        rows.push(vec![
            name.to_owned(),
            info.version.clone(),
            info.abi_version.to_string(),
            info.path.display().to_string(),
        ]);
    }
    let mut out = crate::fmt::table(&rows);
    for (name, info) in registry.iter() {
        let _ = writeln!(out, "\n{name}: {}", info.description);
        if info.options.is_empty() {
            out.push_str("  options: none\n");
        }
        for option in &info.options {
            let default = if option.default.is_null() { "unset".to_owned() } else { option.default.to_string() };
            let _ = writeln!(
                out,
                "  {} = {} (default {default})\n      {}",
                option.name,
                option.kind.describe(),
                option.description
            );
        }
    }
    if registry.iter().next().is_none() {
        out.push_str("\nno executors found: build them with `cargo build --workspace`, or pass --plugin-dir\n");
    }
    for problem in &registry.problems {
        let _ = writeln!(out, "\nwarning: {problem}");
    }
    out
}
