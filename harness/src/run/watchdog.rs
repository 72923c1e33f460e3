//! The watchdog: kills the process groups of the services and of the hooks when the harness dies, however
//! it dies.
//!
//! A service's or a hook's own process dies with the harness (`PR_SET_PDEATHSIG`), but that signal is not
//! passed on to the processes it started: nginx's workers, or what a `setup` script put in the background,
//! outlived a `kill -9` of the harness, in the process group, with no parent to stop them. The watchdog is
//! a process of its own (`harness __watchdog`, in a process group of its own, so that Ctrl-C at the terminal
//! does not reach it) that reads, on its standard input, the process groups as they start (`+PGID`) and end
//! (`-PGID`). When that input ends, the harness has gone: the watchdog kills every group still listed, then
//! exits. A harness that ends its services and hooks itself lists none by then.

use std::io::{BufRead as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use super::reap::kill_group;

/// The groups to kill if the harness dies, shared by the services and the hooks: the watchdog is started
/// with the first group and stopped when the last holder of this lets go of it (after the services are
/// stopped and the last hook has ended).
#[derive(Debug, Default)]
pub(crate) struct Guards {
    watchdog: Mutex<Option<Watchdog>>,
}

impl Guards {
    /// The process group `pgid` is to die with the harness.
    pub(crate) fn guard(&self, pgid: libc::pid_t) {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if watchdog.is_none() {
            // Without a watchdog, the groups still end with their service or hook, and what a killed
            // harness left, the next harness kills.
            *watchdog = Watchdog::start().ok();
        }
        if let Some(watchdog) = watchdog.as_mut() {
            watchdog.say(format_args!("+{pgid}"));
        }
    }

    /// The process group `pgid` is gone: it must not be killed (its number may name another group later).
    pub(crate) fn release(&self, pgid: libc::pid_t) {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(watchdog) = watchdog.as_mut() {
            watchdog.say(format_args!("-{pgid}"));
        }
    }
}

/// The harness's end of the watchdog: the pipe to it and the process, reaped when dropped.
#[derive(Debug)]
struct Watchdog {
    input: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    /// Starts the watchdog, a copy of the harness's own program.
    fn start() -> std::io::Result<Self> {
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

    fn say(&mut self, line: std::fmt::Arguments<'_>) {
        // A watchdog that died guards nothing more; the harness still ends its services and hooks itself.
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
