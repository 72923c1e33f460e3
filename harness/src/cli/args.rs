//! The command line as clap reads it: the commands, their arguments and their help. What a command does
//! is in [`super::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::run;

/// The environment variables the harness reads, for the long help of `harness` and `harness run`.
macro_rules! environment {
    () => {
        "Environment:\n  \
        HARNESS_PLUGIN_PATH\n          \
        Folders to look for executor plugins in, separated by `:` (after --plugin-dir)\n\n  \
        HARNESS_CGROUP\n          \
        Where run cgroups are made: `off` for none, or a cgroup folder the harness may write\n          \
        (by default, under the harness's own cgroup when it can)\n\n  \
        HARNESS_TASK_TRACE\n          \
        A file the runs append every task's start and end to\n\n  \
        SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT\n          \
        The shard of `harness run` without --shard"
    };
}

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
    after_help = "Reference: docs/experiment-format.md. Example: harness run experiments/quickstart.toml",
    after_long_help = concat!(
        environment!(),
        "\n\nReference: docs/experiment-format.md. Example: harness run experiments/quickstart.toml"
    )
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Look for executor plugins in DIR too (before `HARNESS_PLUGIN_PATH` and the built-in executors)
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub(crate) plugin_dirs: Vec<PathBuf>,
}

/// Exports of a finished run for CI services.
#[derive(Debug, clap::Args)]
// The field names are the flags' names.
#[allow(clippy::struct_field_names)]
pub(crate) struct Exports {
    /// Write the statistics of every cell as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) export_json: Option<PathBuf>,
    /// Write a Markdown table of medians to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) export_markdown: Option<PathBuf>,
    /// Write Bencher Metric Format JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) export_bmf: Option<PathBuf>,
    /// Write github-action-benchmark `customSmallerIsBetter` JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) export_github_benchmark: Option<PathBuf>,
}

impl Exports {
    /// Whether any export was asked for.
    pub(crate) fn any(&self) -> bool {
        self.export_json.is_some()
            || self.export_markdown.is_some()
            || self.export_bmf.is_some()
            || self.export_github_benchmark.is_some()
    }
}

/// `--spawn`: how each run's process starts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SpawnArg {
    ForkServer,
    Exec,
}

impl From<SpawnArg> for run::Spawn {
    fn from(spawn: SpawnArg) -> Self {
        match spawn {
            SpawnArg::ForkServer => run::Spawn::ForkServer,
            SpawnArg::Exec => run::Spawn::Exec,
        }
    }
}

/// The commit and branch of a result, over what the harness finds.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CheckoutArgs {
    /// The commit the result was measured at [default: the CI's variable, such as `GITHUB_SHA`, else the
    /// git checkout of the experiment file]
    #[arg(long, value_name = "COMMIT")]
    pub(crate) commit: Option<String>,
    /// The branch [default: the CI's variable, such as `GITHUB_REF_NAME`, else the git checkout's]
    #[arg(long, value_name = "BRANCH")]
    pub(crate) branch: Option<String>,
}

/// Which series of a history to read.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SeriesArgs {
    /// Only the experiment called NAME
    #[arg(long, value_name = "NAME")]
    pub(crate) experiment: Option<String>,
    /// Only results of the branch BRANCH
    #[arg(long, value_name = "BRANCH")]
    pub(crate) branch: Option<String>,
    /// Compare results of different machines (by default each machine is a series of its own)
    #[arg(long)]
    pub(crate) across_machines: bool,
    /// Compare results of different versions of the experiment file (by default each is a series of its own)
    #[arg(long)]
    pub(crate) across_files: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HistoryCommand {
    /// Append result folders (merged shards too) to the history file PATH, made when missing
    Add {
        /// The history file, an `SQLite` database
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Result folders, such as CI artifacts
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// The commit of every DIR [default: what each folder recorded]
        #[arg(long, value_name = "COMMIT")]
        commit: Option<String>,
        /// The branch of every DIR [default: what each folder recorded]
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
    },
    /// Draw each series over commits with its change points, into an HTML page and a Markdown summary
    Report {
        /// The history file, an `SQLite` database
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Where index.html, history.md and charts/ go
        #[arg(long, value_name = "DIR", default_value = "history")]
        out: PathBuf,
        #[command(flatten)]
        series: SeriesArgs,
    },
    /// Exit 1 when the newest results of a series (since its last change point) are worse than the level
    /// before it, beyond the metric's `[ci]` threshold; print which
    Check {
        /// The history file, an `SQLite` database
        #[arg(value_name = "PATH")]
        path: PathBuf,
        #[command(flatten)]
        series: SeriesArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run experiments and write results/<experiment>/<run-id>/
    #[command(after_long_help = environment!())]
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
        /// Compare with the result folder DIR when done (as `harness compare DIR NEW`); exit 1 on a regression.
        /// An experiment with `[ci] baseline` compares its own versions, paired, without it
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
        /// Noise threshold of the comparison, overriding `[ci] threshold`
        #[arg(long, value_name = "PERCENT")]
        threshold: Option<String>,
        /// How each run's fresh process starts: a copy of a process per executor that has loaded the plugin
        /// once (`fork-server`, where the plugin allows it), or `exec`, the harness started again per run
        #[arg(long, value_name = "HOW", default_value = "fork-server")]
        spawn: SpawnArg,
        #[command(flatten)]
        exports: Exports,
        /// Append the finished result to the history file PATH (an `SQLite` database, made when missing),
        /// overriding `[ci] history`
        #[arg(long, value_name = "PATH")]
        history: Option<PathBuf>,
        #[command(flatten)]
        checkout: CheckoutArgs,
    },
    /// Keep every result in a history file, draw its trends and find where they changed
    #[command(subcommand)]
    History(HistoryCommand),
    /// Compare the versions of a paired result folder (`harness compare DIR`, for an experiment with
    /// `[ci] baseline`), or two result folders: per cell and metric, the change, its confidence interval,
    /// the smallest change the comparison could have detected, and a verdict (regressed, improved,
    /// unchanged or inconclusive); exit 1 on a regression, 2 when no cell matches
    Compare {
        /// A paired result folder; or, followed by CURRENT, the baseline's result folder
        #[arg(value_name = "BASELINE")]
        baseline: PathBuf,
        /// The result folder compared with BASELINE
        #[arg(value_name = "CURRENT")]
        current: Option<PathBuf>,
        /// Changes smaller than this are noise, overriding `[ci] threshold` of CURRENT's experiment file
        #[arg(long, value_name = "PERCENT")]
        threshold: Option<String>,
        /// Where compare.md and compare.json go (default: CURRENT, or the paired folder)
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
    /// List the executors found, with their versions, files and options; and the step libraries of FILEs
    List {
        /// Experiment files whose [libraries] to list, with their functions
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print a JSON Schema of the experiment file format, for editors (taplo, Even Better TOML)
    Schema,
    /// Run one request in this process (used by the harness itself)
    #[command(name = "__exec", hide = true)]
    Exec { dir: PathBuf, token: u64 },
    /// Serve copies of a process with LIBRARY loaded, one per run (used by the harness itself)
    #[command(name = "__fork_server", hide = true)]
    ForkServer { library: PathBuf },
    /// Run a program under Valgrind's cachegrind and print its instruction counts (used by the harness itself)
    #[command(name = "__count", hide = true)]
    Count {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<std::ffi::OsString>,
    },
    /// Describe plugin libraries (used by the harness itself)
    #[command(name = "__probe", hide = true)]
    Probe { libraries: Vec<PathBuf> },
    /// Describe a step library (used by the harness itself)
    #[command(name = "__probe_steps", hide = true)]
    ProbeSteps { library: PathBuf },
    /// Kill the process groups read on standard input once it ends (used by the harness itself)
    #[command(name = "__watchdog", hide = true)]
    Watchdog,
    /// Serve `net` and HTTP requests on a loopback port, within bounds (used by the harness itself)
    #[command(name = "__loopback", hide = true)]
    Loopback {
        #[arg(long)]
        port: u16,
        /// The largest request body, in bytes
        #[arg(long)]
        request: u64,
        /// The largest answer body, in bytes
        #[arg(long)]
        response: u64,
        /// The longest wait before an answer, in nanoseconds
        #[arg(long)]
        delay_nanos: u64,
        /// The most connections a run opens at once: the accept queue's length
        #[arg(long)]
        connections: u64,
    },
}
