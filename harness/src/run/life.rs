//! The life of one run, in the order its steps happen: the run's process started (a spare of the fork
//! server, or `harness __exec`), waited for until it ends or its timeout passes (taking the fork server's
//! word that it answered on the way, so that the next run's spare is made while this run exits), killed
//! when it did not exit, reaped with its resource usage, and whatever it left killed: its process group, its
//! cgroup (measured first, then given back), its orphans.
//!
//! [`live`] is that order, written once; [`System`] is what each step asks of the machine, so the order is
//! tested against a mock that records the steps, with no process, cgroup or fork server. `System` is a
//! generic parameter: the real one costs what the calls it makes cost, and nothing besides.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::child::Memory;
use super::wait::{Wait, Waited};
use crate::sys::{Usage, pid_t};

/// A run's process, started.
pub(super) struct Begun<C> {
    pub pid: pid_t,
    /// When the run's time started: its wall time is counted from here.
    pub at: Instant,
    /// The run's cgroup, when the harness made one.
    pub cgroup: Option<C>,
}

/// What the life of a run asks of the machine, step by step.
pub(super) trait System {
    /// A run's cgroup.
    type Cgroup;
    /// Starts the run's process, in its own process group and cgroup, and records it for the reaper.
    fn start(&mut self) -> io::Result<Begun<Self::Cgroup>>;
    /// Waits until the run's process ends or `deadline` passes, or until the fork server has something to
    /// say ([`Waited::Watched`]).
    fn wait(&mut self, deadline: Instant) -> io::Result<Waited>;
    /// Reads what the fork server said while the run ran: when the run has answered, the next spare is
    /// asked for at once.
    fn on_done(&mut self);
    /// Kills the process group `pid` leads.
    fn kill_group(&mut self, pid: pid_t);
    /// Kills every process in `cgroup`.
    fn kill_cgroup(&mut self, cgroup: &Self::Cgroup);
    /// Reaps `pid`: how it ended and its resource usage.
    fn wait4(&mut self, pid: pid_t) -> io::Result<(ExitStatus, Usage)>;
    /// Asks the fork server, if any, for the next run's spare.
    fn prepare_spare(&mut self);
    /// The peak memory of `cgroup`, when it can be read, and how many OOM kills happened in it.
    fn memory_of(&mut self, cgroup: &Self::Cgroup) -> (Option<Memory>, u64);
    /// Gives `cgroup`, emptied, back for a later run (or removes it).
    fn give_back(&mut self, cgroup: Self::Cgroup);
    /// Reads the pid of the next run's spare, if one was asked for.
    fn collect_spare(&mut self);
    /// Kills and reaps the processes of the run that outlived their parent.
    fn reap_orphans(&mut self);
}

/// What a run's life left to classify.
#[derive(Debug)]
pub(super) struct Lived {
    pub waited_for: Wait,
    pub status: ExitStatus,
    pub usage: Usage,
    pub wall: Duration,
    /// The cgroup's peak, when there was a cgroup whose peak could be read.
    pub memory: Option<Memory>,
    pub oom_kills: u64,
}

/// Lives one run, from its start to the last of what it left, in that order; `timeout` from its start.
pub(super) fn live<S: System>(system: &mut S, timeout: Duration) -> io::Result<Lived> {
    let Begun { pid, at, cgroup } = system.start()?;
    let deadline = Instant::now() + timeout;
    let waited_for = loop {
        match system.wait(deadline) {
            Ok(Waited::Watched) => system.on_done(),
            Ok(Waited::Ended(wait)) => break Ok(wait),
            Err(e) => break Err(e),
        }
    };
    // A run that did not exit by itself is killed before it is reaped, or `wait4` would wait for it.
    if !matches!(waited_for, Ok(Wait::Exited)) {
        system.kill_group(pid);
        if let Some(cgroup) = &cgroup {
            system.kill_cgroup(cgroup);
        }
    }
    let waited = system.wait4(pid);
    let wall = at.elapsed();
    // Nothing the run started outlives it, whatever happened.
    system.kill_group(pid);
    // The next run's process is made while the harness looks at this one's end and records it. Its pid is
    // read (`collect_spare`) before orphans are reaped, which would take it for one.
    system.prepare_spare();
    let (memory, oom_kills) = match &cgroup {
        Some(cgroup) => system.memory_of(cgroup),
        None => (None, 0),
    };
    if let Some(cgroup) = cgroup {
        system.kill_cgroup(&cgroup);
        system.give_back(cgroup);
    }
    system.collect_spare();
    system.reap_orphans();
    let waited_for = waited_for?;
    let (status, usage) = waited?;
    Ok(Lived { waited_for, status, usage, wall, memory, oom_kills })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;
    use crate::run::cgroup::Method;

    /// A machine that records each step, waits as told and has a cgroup when told.
    struct Mock {
        steps: Vec<String>,
        /// What each wait sees, in turn.
        waits: Vec<io::Result<Waited>>,
        cgroup: bool,
        start_fails: bool,
        wait4_fails: bool,
    }

    impl Mock {
        fn new(waits: Vec<io::Result<Waited>>, cgroup: bool) -> Self {
            Self { steps: Vec::new(), waits, cgroup, start_fails: false, wait4_fails: false }
        }

        fn step(&mut self, step: &str) {
            self.steps.push(step.to_owned());
        }
    }

    impl System for Mock {
        type Cgroup = &'static str;

        fn start(&mut self) -> io::Result<Begun<&'static str>> {
            self.step("start");
            if self.start_fails {
                return Err(io::Error::other("no process"));
            }
            Ok(Begun { pid: 42, at: Instant::now(), cgroup: self.cgroup.then_some("run-1") })
        }
        fn wait(&mut self, _: Instant) -> io::Result<Waited> {
            self.step("wait");
            self.waits.remove(0)
        }
        fn on_done(&mut self) {
            self.step("on_done");
        }
        fn kill_group(&mut self, pid: pid_t) {
            self.step(&format!("kill_group {pid}"));
        }
        fn kill_cgroup(&mut self, cgroup: &&'static str) {
            self.step(&format!("kill_cgroup {cgroup}"));
        }
        fn wait4(&mut self, pid: pid_t) -> io::Result<(ExitStatus, Usage)> {
            self.step(&format!("wait4 {pid}"));
            if self.wait4_fails {
                return Err(io::Error::other("no child"));
            }
            Ok((ExitStatus::from_raw(0), Usage { max_rss_bytes: 7, ..Usage::default() }))
        }
        fn prepare_spare(&mut self) {
            self.step("prepare_spare");
        }
        fn memory_of(&mut self, cgroup: &&'static str) -> (Option<Memory>, u64) {
            self.step(&format!("memory_of {cgroup}"));
            (Some(Memory { peak_bytes: 3 << 20, method: Method::Cgroup2 }), 1)
        }
        fn give_back(&mut self, cgroup: &'static str) {
            self.step(&format!("give_back {cgroup}"));
        }
        fn collect_spare(&mut self) {
            self.step("collect_spare");
        }
        fn reap_orphans(&mut self) {
            self.step("reap_orphans");
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[test]
    fn a_run_that_exits_is_reaped_then_its_group_and_cgroup_are_killed_and_the_next_spare_asked_for() {
        let mut mock = Mock::new(vec![Ok(Waited::Ended(Wait::Exited))], true);
        let lived = live(&mut mock, TIMEOUT).unwrap();
        assert_eq!(
            mock.steps,
            [
                "start",
                "wait",
                "wait4 42",
                "kill_group 42",
                "prepare_spare",
                "memory_of run-1",
                "kill_cgroup run-1",
                "give_back run-1",
                "collect_spare",
                "reap_orphans",
            ]
        );
        assert_eq!(lived.waited_for, Wait::Exited);
        assert_eq!(
            (lived.memory.map(|m| m.peak_bytes), lived.oom_kills, lived.usage.max_rss_bytes),
            (Some(3 << 20), 1, 7)
        );
    }

    #[test]
    fn the_servers_word_is_taken_while_the_run_runs_and_the_wait_goes_on() {
        let waits = vec![Ok(Waited::Watched), Ok(Waited::Watched), Ok(Waited::Ended(Wait::Exited))];
        let mut mock = Mock::new(waits, false);
        live(&mut mock, TIMEOUT).unwrap();
        assert_eq!(mock.steps[..6], ["start", "wait", "on_done", "wait", "on_done", "wait"]);
        assert_eq!(mock.steps[6..], ["wait4 42", "kill_group 42", "prepare_spare", "collect_spare", "reap_orphans"]);
    }

    #[test]
    fn a_run_that_did_not_exit_is_killed_before_it_is_reaped() {
        for wait in [Wait::TimedOut, Wait::Interrupted] {
            let mut mock = Mock::new(vec![Ok(Waited::Ended(wait))], true);
            let lived = live(&mut mock, TIMEOUT).unwrap();
            assert_eq!(lived.waited_for, wait);
            assert_eq!(mock.steps[1..5], ["wait", "kill_group 42", "kill_cgroup run-1", "wait4 42"]);
        }
        // Without a cgroup, the group alone.
        let mut mock = Mock::new(vec![Ok(Waited::Ended(Wait::TimedOut))], false);
        live(&mut mock, TIMEOUT).unwrap();
        assert_eq!(mock.steps[1..4], ["wait", "kill_group 42", "wait4 42"]);
    }

    #[test]
    fn a_failed_wait_or_reap_still_cleans_up_everything_then_is_the_error() {
        let mut mock = Mock::new(vec![Err(io::Error::other("poll"))], true);
        assert_eq!(live(&mut mock, TIMEOUT).unwrap_err().to_string(), "poll");
        assert_eq!(mock.steps[2..4], ["kill_group 42", "kill_cgroup run-1"]);
        assert_eq!(mock.steps.last().unwrap(), "reap_orphans");
        assert!(mock.steps.iter().any(|s| s == "give_back run-1"));

        let mut mock = Mock::new(vec![Ok(Waited::Ended(Wait::Exited))], true);
        mock.wait4_fails = true;
        assert_eq!(live(&mut mock, TIMEOUT).unwrap_err().to_string(), "no child");
        assert!(mock.steps.iter().any(|s| s == "give_back run-1"));
        assert_eq!(mock.steps.last().unwrap(), "reap_orphans");
    }

    #[test]
    fn a_run_that_cannot_start_asks_nothing_more() {
        let mut mock = Mock::new(Vec::new(), true);
        mock.start_fails = true;
        assert!(live(&mut mock, TIMEOUT).is_err());
        assert_eq!(mock.steps, ["start"]);
    }
}
