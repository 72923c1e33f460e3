//! The command line: `harness run | validate | plan | list | schema`.
//!
//! Exit codes: 0 when every run succeeded, 1 when some run failed (or results could not be written),
//! 2 for bad input or usage.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::diagnostic::Diagnostic;
use crate::experiment::{self, Experiment};
use crate::plugin::{Registry, SearchPath};
use crate::run::{self, Progress};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Run declarative experiments across pluggable execution models",
    long_about = "Run declarative experiments across pluggable execution models.\n\n\
        An experiment file (TOML) describes workloads and a matrix of parameters; the harness runs every \
        cell with warmup and repetitions, each run in a process of its own, and writes runs.csv.\n\n\
        Exit codes: 0 all runs succeeded, 1 some runs failed, 2 bad input or usage.",
    after_help = "Reference: docs/experiment-format.md. Example: harness run experiments/quickstart.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Look for executor plugins in DIR too (before `HARNESS_PLUGIN_PATH` and the built-in executors)
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    plugin_dirs: Vec<PathBuf>,
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
            Err(Failure::Input(d)) => {
                eprintln!("error: {d}");
                2
            }
            Err(Failure::Runtime(e)) => {
                eprintln!("error: {e:#}");
                1
            }
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

enum Failure {
    Input(Box<Diagnostic>),
    Runtime(anyhow::Error),
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Input(Box::new(d))
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

fn load_all(files: &[PathBuf], search: &SearchPath) -> Result<Vec<Experiment>, Diagnostic> {
    let discovered = Registry::discover(search);
    files
        .iter()
        .map(|file| {
            // Each file's [plugins] apply to that file only.
            let mut registry = discovered.clone();
            experiment::load(file, &mut registry)
        })
        .collect()
}

fn dispatch(command: Command, search: &SearchPath) -> Result<i32, Failure> {
    match command {
        Command::Run { files, out, quiet } => {
            let experiments = load_all(&files, search)?;
            let progress = if quiet { Progress::Quiet } else { Progress::Auto };
            let mut failed = 0;
            for experiment in &experiments {
                let summary = run::run(experiment, &out, progress)?;
                failed += summary.failed;
                if summary.failed > 0 {
                    eprintln!(
                        "{}: {} of the runs failed; see the status and error columns",
                        experiment.name, summary.failed
                    );
                }
                println!("{}", summary.dir.display());
                if let Some(signal) = summary.interrupted {
                    eprintln!(
                        "{}: interrupted by {}: {} runs measured and kept, the rest not run",
                        experiment.name,
                        run::signal_name(signal),
                        summary.measured
                    );
                    return Ok(1);
                }
            }
            Ok(i32::from(failed > 0))
        }
        Command::Validate { files } => {
            for (file, experiment) in files.iter().zip(load_all(&files, search)?) {
                let runs = experiment.cells.len() as u64 * u64::from(experiment.repetitions + experiment.warmup);
                println!("{}: ok, {} cells, {runs} runs", file.display(), experiment.cells.len());
            }
            Ok(0)
        }
        Command::Plan { file } => {
            let experiment = load_all(std::slice::from_ref(&file), search)?.remove(0);
            print!("{}", plan_table(&experiment));
            Ok(0)
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

/// Left-aligned columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().enumerate().map(|(i, s)| format!("{s:<w$}", w = widths[i])).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn plan_table(experiment: &Experiment) -> String {
    let runs_per_cell = experiment.warmup + experiment.repetitions;
    let memory = experiment.memory_limit.map(|m| format!("; memory limit {} per run", crate::format_size(m)));
    let mut out = format!(
        "{}: {} cells x ({} warmup + {} repetitions) = {} runs; timeout {} per run{}; order {}\n\n",
        experiment.name,
        experiment.cells.len(),
        experiment.warmup,
        experiment.repetitions,
        experiment.cells.len() as u64 * u64::from(runs_per_cell),
        experiment::units::format_duration(experiment.timeout),
        memory.unwrap_or_default(),
        serde_json::to_value(experiment.order).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    );
    let mut header = vec!["#".to_owned()];
    header.extend(experiment.columns.iter().cloned());
    header.extend(["tasks", "steps", "options"].map(str::to_owned));
    let mut rows = vec![header];
    for (i, cell) in experiment.cells.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        row.extend(experiment.columns.iter().map(|c| cell.value(c)));
        row.push(cell.workload.tasks.to_string());
        row.push(cell.workload.steps.iter().map(crate::describe_step).collect::<Vec<_>>().join(", "));
        let options: Vec<String> = cell
            .options
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        row.push(options.join(" "));
        rows.push(row);
    }
    out.push_str(&table(&rows));
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
    let mut out = table(&rows);
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
