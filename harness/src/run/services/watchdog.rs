//! The services' watchdog: kills their process groups when the harness dies, however it dies.
//!
//! A service's own process dies with the harness (`PR_SET_PDEATHSIG`), but that signal is not passed on to
//! the processes it started: nginx's workers, say, outlived a `kill -9` of the harness, in the service's
//! process group, with no parent to stop them. The watchdog is a process of its own (`harness __watchdog`,
//! in a process group of its own, so that Ctrl-C at the terminal does not reach it) that reads, on its
//! standard input, the process groups of the services as they start (`+PGID`) and stop (`-PGID`). When
//! that input ends, the harness has gone: the watchdog kills every group still listed, then exits. A
//! harness that stops its services itself lists none by then.

use std::io::{BufRead as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, Stdio};

use super::super::reap::kill_group;

/// The harness's end of the watchdog: the pipe to it and the process, reaped when dropped.
#[derive(Debug)]
pub(super) struct Watchdog {
    input: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    /// Starts the watchdog, a copy of the harness's own program.
    pub(super) fn start() -> std::io::Result<Self> {
        let program = std::env::current_exe()?;
        let mut child = Command::new(program)
            .arg("__watchdog")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let input = child.stdin.take();
        Ok(Self { input, child })
    }

    /// The process group `pgid` is to die with the harness.
    pub(super) fn guard(&mut self, pgid: libc::pid_t) {
        self.say(format_args!("+{pgid}"));
    }

    /// The process group `pgid` is gone: it must not be killed (its number may name another group later).
    pub(super) fn release(&mut self, pgid: libc::pid_t) {
        self.say(format_args!("-{pgid}"));
    }

    fn say(&mut self, line: std::fmt::Arguments<'_>) {
        // A watchdog that died guards nothing more; the harness still stops its services itself.
        if let Some(input) = &mut self.input {
            if writeln!(input, "{line}").is_err() {
                self.input = None;
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Its input ends: it kills what is still listed (nothing, once every service was stopped) and exits.
        drop(self.input.take());
        let _ = self.child.wait();
    }
}

/// `harness __watchdog`: keeps the list of groups its input gives until the input ends, then kills each
/// group still on it. Returns the exit code.
pub(crate) fn watchdog_main() -> i32 {
    let mut groups: Vec<libc::pid_t> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (sign, number) = line.split_at(line.len().min(1));
        let Ok(pgid) = number.parse::<libc::pid_t>() else { continue };
        if pgid <= 1 {
            continue;
        }
        match sign {
            "+" if !groups.contains(&pgid) => groups.push(pgid),
            "-" => groups.retain(|&g| g != pgid),
            _ => {}
        }
    }
    for pgid in groups {
        kill_group(pgid);
    }
    0
}
