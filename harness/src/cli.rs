//! The command line: `harness run | compare | export | report | merge | validate | plan | list | schema`.
//!
//! Exit codes: 0 when every run succeeded, 1 when some run failed, a metric regressed, or results could not
//! be written, 2 for bad input or usage, 130 when Ctrl-C or SIGTERM stopped a run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::experiment::{self, Experiment};
use crate::pipeline::Progress;
use crate::plugin::{Registry, SearchPath};
use crate::run;

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Run declarative experiments across pluggable execution models",
    long_about = "Run declarative experiments across pluggable execution models.\n\n\
        An experiment file (TOML) describes workloads and a matrix of parameters; the harness runs every \
        cell with warmup and repetitions, each run in a process of its own, and writes runs.csv.\n\n\
        Exit codes: 0 all runs succeeded, 1 some runs failed (or a metric regressed), 2 bad input or usage, \
        130 interrupted (resume with --resume).",
    after_help = "Reference: docs/experiment-format.md. Example: harness run experiments/quickstart.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Look for executor plugins in DIR too (before `HARNESS_PLUGIN_PATH` and the built-in executors)
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    plugin_dirs: Vec<PathBuf>,
}

/// Exports of a finished run for CI services.
#[derive(Debug, clap::Args)]
// The field names are the flags' names.
#[allow(clippy::struct_field_names)]
struct Exports {
    /// Write the statistics of every cell as JSON to FILE
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Write a Markdown table of medians to FILE
    #[arg(long, value_name = "FILE")]
    export_markdown: Option<PathBuf>,
    /// Write Bencher Metric Format JSON to FILE
    #[arg(long, value_name = "FILE")]
    export_bmf: Option<PathBuf>,
    /// Write github-action-benchmark `customSmallerIsBetter` JSON to FILE
    #[arg(long, value_name = "FILE")]
    export_github_benchmark: Option<PathBuf>,
}

impl Exports {
    fn any(&self) -> bool {
        self.export_json.is_some()
            || self.export_markdown.is_some()
            || self.export_bmf.is_some()
            || self.export_github_benchmark.is_some()
    }

    fn write(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        type Writer = fn(&std::path::Path, &std::path::Path) -> anyhow::Result<()>;
        let writers: [(&Option<PathBuf>, Writer); 4] = [
            (&self.export_json, crate::export::json),
            (&self.export_markdown, crate::export::markdown),
            (&self.export_bmf, crate::export::bencher),
            (&self.export_github_benchmark, crate::export::github_benchmark),
        ];
        for (path, write) in writers {
            if let Some(path) = path {
                write(dir, path)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run experiments and write results/<experiment>/<run-id>/
    Run {
        /// Experiment files; all are checked before any runs
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Folder under which result folders are made
        #[arg(long, value_name = "DIR", default_value = "results")]
        out: PathBuf,
        /// Print nothing but errors and the result folder
        #[arg(long, short)]
        quiet: bool,
        /// Run only shard K of N (K from 0): a deterministic part of the runs, the same on every machine.
        /// Without it, `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT` choose the shard when set
        #[arg(long, value_name = "K/N")]
        shard: Option<run::Shard>,
        /// Complete the interrupted result folder DIR: run only the runs it lacks
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
        /// Compare with the result folder DIR when done (as `harness compare DIR NEW`); exit 1 on a regression
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
        /// Noise threshold of the comparison with --baseline, overriding `[ci] threshold`
        #[arg(long, value_name = "PERCENT", requires = "baseline")]
        threshold: Option<String>,
        #[command(flatten)]
        exports: Exports,
    },
    /// Compare two result folders: per cell and metric, the change of the median, its confidence interval,
    /// a Mann-Whitney test, and a verdict; exit 1 when a significant change's whole interval passes its
    /// threshold the bad way, 2 when no cell matches
    Compare {
        #[arg(value_name = "BASELINE")]
        baseline: PathBuf,
        #[arg(value_name = "CURRENT")]
        current: PathBuf,
        /// Changes smaller than this are noise, overriding `[ci] threshold` of CURRENT's experiment file
        #[arg(long, value_name = "PERCENT")]
        threshold: Option<String>,
        /// Where compare.md and compare.json go (default: CURRENT)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write the exports of an existing result folder (a merged one, say)
    Export {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        exports: Exports,
    },
    /// Draw the charts and write report.md and report.html of result folders again
    #[command(long_about = "Draw the charts (charts/*.svg) and write report.md and report.html of result folders, \
        from their runs.csv and experiment.toml alone; also for a partial result, such as an interrupted run or \
        one shard.\n\nThe executors the experiment used are looked up as for `harness run`; without them the \
        report has statistics but no ideal time or efficiency, and says so.")]
    Report {
        /// Result folders, such as results/NAME/latest
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// The executor that speedup is measured against [default: sync]
        #[arg(long, value_name = "EXECUTOR")]
        reference: Option<String>,
    },
    /// Join the result folders of an experiment's shards into one
    Merge {
        /// Result folders of the shards
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// The merged result folder to create
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check experiment files without running anything
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the expanded cells of an experiment as a table, without running anything
    Plan {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the executors found, with their versions, files and options
    List,
    /// Print a JSON Schema of the experiment file format, for editors (taplo, Even Better TOML)
    Schema,
    /// Run one request in this process (used by the harness itself)
    #[command(name = "__exec", hide = true)]
    Exec { dir: PathBuf },
    /// Describe plugin libraries (used by the harness itself)
    #[command(name = "__probe", hide = true)]
    Probe { libraries: Vec<PathBuf> },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        // The child modes come first and touch nothing else: an executor may fork, so no thread may be
        // started before it runs.
        Command::Exec { dir } => run::exec_main(&dir),
        Command::Probe { libraries } => crate::plugin::probe_main(&libraries),
        command => match dispatch(command, &SearchPath::new(&cli.plugin_dirs)) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error}");
                error.exit_code()
            }
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `report` reads a result folder with an error of its own, of the same two kinds.
impl From<crate::report::ReadError> for Error {
    fn from(e: crate::report::ReadError) -> Self {
        match e {
            crate::report::ReadError::Input(d) => Error::from(d),
            crate::report::ReadError::Runtime(e) => Error::from(e),
        }
    }
}

impl From<crate::results::NotAResultFolder> for Error {
    fn from(e: crate::results::NotAResultFolder) -> Self {
        Error::from(e.diagnostic())
    }
}

fn load_all(files: &[PathBuf], search: &SearchPath) -> Result<Vec<Experiment>, Diagnostic> {
    let discovered = Registry::discover(search);
    files
        .iter()
        .map(|file| {
            // Each file's [plugins] apply to that file only.
            let mut registry = discovered.clone();
            let experiment = experiment::load(file, &mut registry)?;
            for warning in experiment::lints::warnings(&experiment) {
                eprintln!("warning: {}: {warning}", file.display());
            }
            Ok(experiment)
        })
        .collect()
}

fn dispatch(command: Command, search: &SearchPath) -> Result<i32, Error> {
    match command {
        Command::Run { files, out, quiet, shard, resume, baseline, threshold, exports } => {
            if files.len() > 1 && (baseline.is_some() || exports.any()) {
                return Err(Diagnostic::new("--baseline and --export-* take one experiment file")
                    .help("run each file on its own to compare or export it")
                    .into());
            }
            let threshold = threshold.as_deref().map(parse_threshold).transpose()?;
            // Resolved before the run moves `latest` to the new folder, so `--baseline results/NAME/latest`
            // means the previous result.
            let baseline = baseline
                .map(|dir| {
                    crate::results::open::check(&dir)?;
                    std::fs::canonicalize(&dir).map_err(|_| crate::results::NotAResultFolder { dir }.diagnostic())
                })
                .transpose()?;
            let experiments = load_all(&files, search)?;
            let progress = if quiet { Progress::Quiet } else { Progress::Auto };
            let shard = match shard {
                Some(shard) => Some(shard),
                None => run::Shard::from_slurm(|name| std::env::var(name).ok())
                    .map_err(|e| Diagnostic::new(e).help("unset the Slurm array variables, or pass --shard K/N"))?,
            };
            let shard = match &resume {
                Some(dir) => resume_shard(dir, &files, &experiments, shard)?,
                None => shard,
            };
            let mut failed = 0;
            let mut regressed = false;
            for (file, experiment) in files.iter().zip(&experiments) {
                let options = crate::pipeline::Options { out: &out, progress, shard, resume: resume.as_deref() };
                let summary = crate::pipeline::run(experiment, options)?;
                if summary.interrupted {
                    println!("{}", summary.dir.display());
                    let signal = run::interrupted_by().map_or("a signal", crate::process::signal_name);
                    eprintln!(
                        "{}: interrupted by {signal}: {} measured runs are in {}, {} are left; finish them with\n  {} run {} --resume {}",
                        experiment.name,
                        summary.measured,
                        summary.dir.display(),
                        summary.remaining,
                        invoked_as(),
                        file.display(),
                        summary.dir.display()
                    );
                    return Ok(130);
                }
                failed += summary.failed;
                exports.write(&summary.dir)?;
                if let Some(baseline) = &baseline {
                    let mut gate = experiment.gate.clone();
                    if let Some(threshold) = threshold {
                        gate.default = threshold;
                    }
                    let comparison = crate::compare::compare(baseline, &summary.dir, &gate, experiment.seed)?;
                    nothing_matched(&comparison)?;
                    if report_comparison(&comparison, &summary.dir)? {
                        regressed = true;
                    }
                }
                if summary.failed > 0 {
                    let warmups = match summary.failed_warmups {
                        0 => String::new(),
                        n => format!(" ({n} of them warmup runs, which runs.csv does not keep)"),
                    };
                    eprintln!(
                        "{}: {} runs failed{warmups}; see the status and error columns of runs.csv",
                        experiment.name, summary.failed
                    );
                }
                println!("{}", summary.dir.display());
            }
            Ok(i32::from(failed > 0 || regressed))
        }
        Command::Report { dirs, reference } => {
            let mut problems = 0;
            for dir in &dirs {
                let mut report = crate::report::read(dir, search)?;
                let executors: Vec<&str> = report.cells.iter().map(|c| c.executor.as_str()).collect();
                // The default may be absent (the report then says so); an executor asked for by name must be there.
                if let Some(reference) = reference.as_deref().filter(|r| !executors.contains(r)) {
                    let mut known = executors.clone();
                    known.sort_unstable();
                    known.dedup();
                    return Err(Diagnostic::new(format!(
                        "--reference {reference}: {} has no cell of that executor",
                        dir.display()
                    ))
                    .expected(format!(
                        "one of {}",
                        known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ))
                    .did_you_mean(reference, known.iter().copied())
                    .into());
                }
                if let Some(reference) = reference.as_deref() {
                    report.set_reference(reference);
                }
                let written = crate::report::write(dir, &report)
                    .map_err(|e| anyhow::anyhow!("cannot write the report into {}: {e}", dir.display()))?;
                for problem in &written.problems {
                    eprintln!("warning: {}: {problem}", dir.display());
                }
                problems += written.problems.len();
                println!("{}", dir.join(crate::results::files::REPORT_MD).display());
            }
            Ok(i32::from(problems > 0))
        }
        Command::Validate { files } => {
            for (file, experiment) in files.iter().zip(load_all(&files, search)?) {
                let runs =
                    experiment.cells.len() as u64 * (u64::from(experiment.repetitions) + u64::from(experiment.warmup));
                println!("{}: ok, {} cells, {runs} runs", file.display(), experiment.cells.len());
            }
            Ok(0)
        }
        Command::Plan { file } => {
            let experiment = load_all(std::slice::from_ref(&file), search)?.remove(0);
            print!("{}", plan_table(&experiment));
            Ok(0)
        }
        Command::Compare { baseline, current, threshold, out } => {
            crate::results::open::check(&baseline)?;
            let source = crate::results::open::experiment_source(&current)?;
            let mut gate = experiment::gate_of_source(&source).map_err(|e| {
                Diagnostic::new(format!("the [ci] table of {}/experiment.toml: {e}", current.display()))
            })?;
            if let Some(threshold) = threshold.as_deref() {
                gate.default = parse_threshold(threshold)?;
            }
            let seed = crate::results::Environment::read_or_default(&current).experiment.seed.unwrap_or(0);
            let comparison = crate::compare::compare(&baseline, &current, &gate, seed)
                .map_err(|e| Diagnostic::new(format!("{e:#}")))?;
            nothing_matched(&comparison)?;
            let regressed = report_comparison(&comparison, out.as_deref().unwrap_or(&current))?;
            Ok(i32::from(regressed))
        }
        Command::Export { dir, exports } => {
            if !exports.any() {
                return Err(Diagnostic::new("nothing to export")
                    .help("add --export-json, --export-markdown, --export-bmf or --export-github-benchmark")
                    .into());
            }
            exports.write(&dir).map_err(|e| Diagnostic::new(format!("{e:#}")))?;
            Ok(0)
        }
        Command::Merge { dirs, out } => {
            // What stops a merge is the folders it was given: bad input.
            let report = crate::merge::merge(&dirs, &out).map_err(|e| Diagnostic::new(format!("{e:#}")))?;
            if let Err(e) = crate::report::write_summary(&out, search) {
                let why = match e {
                    crate::report::ReadError::Input(d) => d.message,
                    crate::report::ReadError::Runtime(e) => format!("{e:#}"),
                };
                eprintln!("warning: {}: cannot write summary.csv: {why}", out.display());
            }
            draw_report(&out, search);
            println!("{}", out.display());
            eprintln!("merged {} shards: {} of {} planned runs", report.shards, report.merged, report.planned);
            let list = |runs: Vec<String>| runs.join(", ");
            if !report.missing.is_empty() {
                eprintln!(
                    "missing {} runs (cell/repetition): {}",
                    report.missing.len(),
                    list(report.missing.iter().map(|(c, r)| format!("{c}/{r}")).collect())
                );
            }
            if !report.duplicated.is_empty() {
                eprintln!(
                    "duplicated {} runs (cell/repetition x copies), the first copy kept: {}",
                    report.duplicated.len(),
                    list(report.duplicated.iter().map(|((c, r), n)| format!("{c}/{r} x{n}")).collect())
                );
            }
            Ok(i32::from(!report.missing.is_empty() || !report.duplicated.is_empty()))
        }
        Command::List => {
            let registry = Registry::discover(search);
            print!("{}", list_table(&registry));
            Ok(0)
        }
        Command::Schema => {
            let registry = Registry::discover(search);
            let schema = crate::schema::schema(&registry);
            println!("{}", serde_json::to_string_pretty(&schema).expect("serializable"));
            Ok(0)
        }
        Command::Exec { .. } | Command::Probe { .. } => unreachable!("handled in main"),
    }
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
    print!("{}", crate::compare::table(comparison));
    for warning in &comparison.warnings {
        eprintln!("warning: {warning}");
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join(crate::results::files::COMPARE_MD), crate::compare::markdown(comparison))
        .context("cannot write compare.md")?;
    let mut json = serde_json::to_vec_pretty(comparison)?;
    json.push(b'\n');
    std::fs::write(out.join(crate::results::files::COMPARE_JSON), json).context("cannot write compare.json")?;
    Ok(comparison.regressions() > 0)
}

/// Draws the charts and reports of a result folder that was just made; a failure is only a warning.
fn draw_report(dir: &std::path::Path, search: &SearchPath) {
    let problems = match crate::report::read(dir, search) {
        Ok(report) => match crate::report::write(dir, &report) {
            Ok(written) => written.problems,
            Err(e) => vec![format!("cannot write the charts and reports: {e}")],
        },
        Err(crate::report::ReadError::Input(d)) => vec![format!("cannot draw the charts and reports: {}", d.message)],
        Err(crate::report::ReadError::Runtime(e)) => vec![format!("cannot draw the charts and reports: {e:#}")],
    };
    for problem in problems {
        eprintln!("warning: {}: {problem}", dir.display());
    }
}

/// Checks that `--resume DIR` continues the same experiment file and shard; returns the shard to run.
fn resume_shard(
    dir: &std::path::Path,
    files: &[PathBuf],
    experiments: &[Experiment],
    shard: Option<run::Shard>,
) -> Result<Option<run::Shard>, Error> {
    let [experiment] = experiments else {
        return Err(Diagnostic::new("--resume continues one experiment, but several files were given")
            .help("resume each result folder with its own experiment file")
            .into());
    };
    let before = crate::results::open::experiment_source(dir)?;
    if crate::environment::file_hash(&before) != crate::environment::file_hash(&experiment.source) {
        return Err(Diagnostic::new(format!("{} changed since {} was started", files[0].display(), dir.display()))
            .in_file(&files[0])
            .help("a resumed run must use the same file; start a new run instead")
            .into());
    }
    let environment = crate::results::Environment::read_or_default(dir);
    let recorded = environment.shard.as_deref().map(str::parse::<run::Shard>).transpose().map_err(Diagnostic::new)?;
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

fn plan_table(experiment: &Experiment) -> String {
    let runs_per_cell = u64::from(experiment.warmup) + u64::from(experiment.repetitions);
    let memory = experiment.memory_limit.map(|m| format!("; memory limit {} per run", crate::fmt::format_size(m)));
    let mut out = format!(
        "{}: {} cells x ({} warmup + {} repetitions) = {} runs; timeout {} per run{}; order {}\n\n",
        experiment.name,
        experiment.cells.len(),
        experiment.warmup,
        experiment.repetitions,
        experiment.cells.len() as u64 * runs_per_cell,
        crate::fmt::format_duration(experiment.timeout),
        memory.unwrap_or_default(),
        serde_json::to_value(experiment.order).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    );
    let mut header = vec!["#".to_owned()];
    header.extend(experiment.columns.iter().cloned());
    // Upper case: resolved from the cell, not axes of the matrix.
    header.extend(["TASKS", "STEPS", "OPTIONS"].map(str::to_owned));
    let mut rows = vec![header];
    for (i, cell) in experiment.cells.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        row.extend(experiment.columns.iter().map(|c| cell.value(c)));
        row.push(cell.workload.tasks.to_string());
        row.push(cell.workload.steps.iter().map(crate::fmt::describe_step).collect::<Vec<_>>().join(", "));
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

/// The harness as the user invoked it, for commands the harness suggests: `target/release/harness` when
/// run from the build folder, `harness` when found on the `PATH`.
fn invoked_as() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .filter(|program| program.components().count() > 1)
        .map_or_else(|| "harness".to_owned(), |program| program.display().to_string())
}
