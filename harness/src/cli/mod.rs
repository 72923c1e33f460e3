//! The command line: `harness run | history | compare | export | report | merge | validate | plan | list | schema`.
//!
//! `args` is what clap reads; `commands` holds one function per command; this module parses the command
//! line, sends each command to its function, and turns an error into its message and exit code.
//!
//! Exit codes: 0 when every run succeeded, 1 when some run failed, a metric regressed, or results could not
//! be written, 2 for bad input or usage, 130 when Ctrl-C or SIGTERM stopped a run.

mod args;
mod commands;
mod history;

use std::process::ExitCode;

use clap::Parser as _;

use crate::error::Error;
use crate::experiment::LoopbackBounds;
use crate::plugin::SearchPath;

use args::{Cli, Command};

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        // The child modes come first and touch nothing else: an executor may fork, so no thread may be
        // started before it runs.
        Command::Exec { dir, token } => crate::run::exec_main(&dir, token),
        Command::ForkServer { library } => crate::run::fork_server_main(&library),
        Command::Probe { libraries } => crate::plugin::probe_main(&libraries),
        Command::Count { argv } => crate::run::count_main(&argv),
        Command::ProbeSteps { library } => crate::plugin::probe_steps_main(&library),
        Command::Loopback { port, request, response, delay_nanos, connections } => {
            crate::run::loopback_main(port, LoopbackBounds { request, response, delay_nanos, connections })
        }
        Command::Watchdog => crate::run::watchdog_main(),
        command => dispatch(command, &SearchPath::new(&cli.plugin_dirs)).unwrap_or_else(|error| {
            crate::console::errln!("error: {error}");
            error.exit_code()
        }),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs one command; returns its exit code.
fn dispatch(command: Command, search: &SearchPath) -> Result<i32, Error> {
    match command {
        Command::Run { files, out, quiet, shard, resume, baseline, threshold, spawn, exports, history, checkout } => {
            let spawn = spawn.into();
            let args = commands::RunArgs {
                files,
                out,
                quiet,
                shard,
                resume,
                baseline,
                threshold,
                spawn,
                exports,
                history,
                checkout,
            };
            commands::run(&args, search)
        }
        Command::History(command) => history::history(command),
        Command::Compare { baseline, current, threshold, out } => {
            commands::compare(&baseline, current.as_deref(), threshold.as_deref(), out.as_deref())
        }
        Command::Export { dir, exports } => commands::export(&dir, &exports),
        Command::Report { dirs, reference } => commands::report(&dirs, reference.as_deref()),
        Command::Merge { dirs, out } => commands::merge(&dirs, &out),
        Command::Validate { files } => commands::validate(&files, search),
        Command::Plan { file } => commands::plan(&file, search),
        Command::List { files } => commands::list(&files, search),
        Command::Schema => Ok(commands::schema(search)),
        Command::Exec { .. }
        | Command::ForkServer { .. }
        | Command::Probe { .. }
        | Command::Count { .. }
        | Command::ProbeSteps { .. }
        | Command::Loopback { .. }
        | Command::Watchdog => {
            unreachable!("handled in main")
        }
    }
}
