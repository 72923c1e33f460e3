//! The keeper: a thread that makes the next run's cgroup ahead, and readies a finished run's for a later
//! run or removes it.

use std::ffi::CString;
use std::io;

use super::detect::Accounting;
use super::group::{RunCgroup, remove_or_warn};

/// Makes, readies and removes the cgroups of runs on a thread of its own, off the path from one run to the
/// next: making and removing a cgroup costs the kernel about as much as a short run. Once a run is over,
/// its cgroup is made ready for another run ([`RunCgroup::recycle`]) or removed; a run takes a ready one
/// where there is one, else the one made ahead while the run before ran. The caller has killed what was in
/// a cgroup it hands back, and reaped it ([`RunCgroup::kill_all`], the orphans), so nothing of the run
/// executes any more: what is left is the folder, removed once the last killed process has exited.
/// Dropping the keeper waits until every cgroup it made or was given is removed.
#[derive(Debug)]
pub(crate) struct Keeper {
    accounting: Accounting,
    /// The memory limit of every run's cgroup.
    limit: Option<u64>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    made: std::sync::mpsc::Receiver<io::Result<Option<RunCgroup>>>,
    /// Whether the next cgroup is being made ahead.
    ahead: bool,
    /// Cgroups of runs that are over, ready for another run.
    ready: std::sync::Arc<std::sync::Mutex<Vec<RunCgroup>>>,
    /// How many cgroups were taken.
    taken: usize,
    /// The pids cgroup that every run joins, where the pids limit has a v1 hierarchy of its own: one for
    /// all runs rather than one made and removed per run, since its count is back to 0 between runs.
    /// The fork servers join it when they start, so that their copies are born in it.
    shared_pids: Option<RunCgroup>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
enum Job {
    Make(usize),
    /// Make ready for another run, or remove.
    Recycle(RunCgroup),
}

impl Keeper {
    /// Starts the thread, for run cgroups with `limit`. Start it where the signals the runner waits for are
    /// blocked, so that they reach the runner's thread.
    pub(crate) fn start(accounting: &Accounting, limit: Option<u64>) -> Self {
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        let (made_sender, made) = std::sync::mpsc::channel();
        let shared_pids = accounting.create_shared_pids();
        let mut accounting = accounting.clone();
        accounting.shared_pids = shared_pids.as_ref().map(|c| c.procs.clone());
        let maker = accounting.clone();
        let ready = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let readied = std::sync::Arc::clone(&ready);
        let thread = std::thread::Builder::new().name("cgroup-keeper".to_owned()).spawn(move || {
            for job in receiver {
                match job {
                    Job::Make(index) => {
                        let _ = made_sender.send(maker.create(index, limit));
                    }
                    // No reaping here: the harness's children at this point are the next run's.
                    Job::Recycle(cgroup) => {
                        if let Some(cgroup) = cgroup.recycle(limit) {
                            lock(&readied).push(cgroup);
                        }
                    }
                }
            }
        });
        let (jobs, thread) = match thread {
            Ok(thread) => (Some(jobs), Some(thread)),
            // Without the thread, each cgroup is made and removed where it is asked for.
            Err(_) => (None, None),
        };
        Self { accounting, limit, jobs, made, ahead: false, ready, taken: 0, shared_pids, thread }
    }

    /// A cgroup for the next run (`None` without cgroups): one that an earlier run used, made ready again,
    /// where there is one, else a new one; and, when no other is ready, the one after it made ahead. The
    /// cgroups are numbered in the order they are made.
    pub(crate) fn take(&mut self) -> io::Result<Option<RunCgroup>> {
        // The lock is never held while waiting for the thread, which takes it to add a cgroup.
        let ready = self.ready().pop();
        let cgroup = match ready {
            Some(cgroup) => Ok(Some(cgroup)),
            None if std::mem::take(&mut self.ahead) => {
                self.made.recv().unwrap_or_else(|_| self.accounting.create(self.taken, self.limit))
            }
            None => {
                self.taken += 1;
                self.accounting.create(self.taken, self.limit)
            }
        };
        if !self.ahead && self.accounting.parent.is_some() && self.ready().is_empty() {
            if let Some(jobs) = &self.jobs {
                self.taken += 1;
                if jobs.send(Job::Make(self.taken)).is_ok() {
                    self.ahead = true;
                }
            }
        }
        cgroup
    }

    /// The cgroups ready for another run.
    fn ready(&self) -> std::sync::MutexGuard<'_, Vec<RunCgroup>> {
        lock(&self.ready)
    }

    /// The `cgroup.procs` of the cgroups every run joins besides its own (see [`Keeper::shared_pids`]).
    pub(crate) fn shared_procs(&self) -> Vec<CString> {
        self.shared_pids.iter().map(|c| c.procs.clone()).collect()
    }

    /// Makes the cgroup of a run that is over ready for another run, or removes it; the caller killed and
    /// reaped its processes.
    pub(crate) fn give_back(&self, cgroup: RunCgroup) {
        let cgroup = match &self.jobs {
            Some(jobs) => match jobs.send(Job::Recycle(cgroup)) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(Job::Recycle(cgroup))) => cgroup,
                Err(_) => unreachable!("a cgroup to recycle was sent"),
            },
            None => cgroup,
        };
        if let Some(cgroup) = cgroup.recycle(self.limit) {
            self.ready().push(cgroup);
        }
    }
}

/// The list of cgroups ready for another run, locked; a panic while it was locked left it whole.
fn lock(ready: &std::sync::Mutex<Vec<RunCgroup>>) -> std::sync::MutexGuard<'_, Vec<RunCgroup>> {
    ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // The cgroup made ahead for a run that did not come.
        if std::mem::take(&mut self.ahead) {
            if let Ok(Ok(Some(cgroup))) = self.made.recv() {
                remove_or_warn(cgroup);
            }
        }
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let ready = std::mem::take(&mut *self.ready());
        ready.into_iter().for_each(remove_or_warn);
        if let Some(shared) = self.shared_pids.take() {
            remove_or_warn(shared);
        }
    }
}
