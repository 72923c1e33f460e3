//! The harness's system calls, as safe functions: every libc call of the crate is here, each `unsafe` with
//! the reason it is sound. A leaf: it imports nothing of the crate. The rest of the crate is safe code
//! (`#![deny(unsafe_code)]`), but for the plugin's C ABI in `plugin::library`.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read as _};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

pub(crate) use libc::pid_t;

/// What a run's child does between `fork` and `exec`, before any of the run's code executes.
pub(crate) struct ChildSetup {
    /// The `cgroup.procs` files of the run's cgroups, to join.
    pub cgroup_procs: Vec<CString>,
    /// `RLIMIT_DATA` in bytes, where no cgroup carries the memory limit.
    pub data_limit: Option<u64>,
}

/// Has `command`'s child put itself in a process group of its own, die with the harness (even on
/// `kill -9`), join its cgroup and take its data limit, before it `exec`s.
pub(crate) fn isolate_child(command: &mut Command, setup: ChildSetup) {
    // SAFETY: the hook runs between fork and exec; `isolate_self` makes only async-signal-safe calls
    // (setpgid, prctl, open, write, close, setrlimit) and does not allocate: the paths were made before the
    // fork.
    unsafe {
        command.pre_exec(move || isolate_self(&setup));
    }
}

/// What a run's process does first, before any of the run's code executes: a process group of its own,
/// death with the harness, its cgroup and its data limit. Async-signal-safe and allocation-free, so that it
/// may run between `fork` and `exec`.
pub(crate) fn isolate_self(setup: &ChildSetup) -> io::Result<()> {
    // SAFETY: setpgid, prctl and setrlimit take integers and a pointer to a valid rlimit.
    unsafe {
        // A group of its own, so a timeout can kill the run and every process it started.
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Dies with the harness, even on `kill -9`.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // Into the run's cgroup before any of the run's code executes, so the peak and the limit cover all of
    // it.
    for procs in &setup.cgroup_procs {
        join_cgroup(procs)?;
    }
    if let Some(limit) = setup.data_limit {
        let limit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
        // SAFETY: a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &raw const limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A copy of this process whose parent is this process's parent (`clone` with `CLONE_PARENT`, otherwise as
/// `fork`): `Ok(None)` in the copy, `Ok(Some(pid))` here. The parent of both reaps the copy with `wait4`,
/// and gets its resource usage, as if it had forked it itself.
///
/// Only for a process with a single thread: the copy has one thread, the caller's, and no lock another
/// thread held. The C library's `fork` is not used, since it cannot pass `CLONE_PARENT`; what it does
/// besides the system call is for processes with threads (its atfork handlers, the locks of `malloc` and
/// `stdio`), or refreshes the thread ID it keeps, which only the C library's mutexes that record their owner
/// read, and `raise` and `abort` do not (they ask the kernel).
pub(crate) fn fork_sibling() -> io::Result<Option<pid_t>> {
    // SAFETY: the raw system call without CLONE_VM and without a new stack behaves as fork: the child
    // continues here with a copy of the address space and 0 returned. The caller has a single thread.
    let pid =
        unsafe { libc::syscall(libc::SYS_clone, libc::CLONE_PARENT | libc::SIGCHLD, 0usize, 0usize, 0usize, 0usize) };
    match pid {
        0 => Ok(None),
        1.. => Ok(Some(pid as pid_t)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sets the name of the calling thread, which for a process with one thread is the process's name in
/// `/proc/PID/comm` (at most 15 bytes are kept).
pub(crate) fn set_name(name: &CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string that outlives the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
}

/// The pid of this process's parent.
pub(crate) fn parent_pid() -> pid_t {
    // SAFETY: getppid takes nothing and cannot fail.
    unsafe { libc::getppid() }
}

/// Makes descriptor `to` a copy of `from` (closing what `to` was).
pub(crate) fn dup_onto(from: BorrowedFd<'_>, to: i32) -> io::Result<()> {
    // SAFETY: dup2 of a descriptor `from` keeps open for the call onto a descriptor number.
    if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes out what the C library's output streams hold in their buffers (`fflush(NULL)`).
pub(crate) fn flush_c_streams() {
    // SAFETY: fflush with a null pointer flushes every open output stream.
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

/// Ends this process at once with `code`, running no exit handler: for a copy of a process whose exit
/// handlers belong to the original.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; nothing after it runs.
    unsafe { libc::_exit(code) }
}

/// Writes `0` (this process) to a `cgroup.procs` file. Async-signal-safe: runs between fork and exec.
fn join_cgroup(procs: &CStr) -> io::Result<()> {
    // SAFETY: open, write and close on a NUL-terminated path and a static byte.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
}

/// A descriptor that becomes readable when process `pid` exits (Linux 5.3 and later).
pub(crate) fn pidfd_open(pid: pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by pidfd_open and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits up to `timeout` for `fd` to become readable: `Ok(true)` when it is, `Ok(false)` when the time
/// passed. A signal ends the wait with an error of kind `Interrupted`.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pollfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let limit = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: one valid pollfd and a valid timespec for the duration of the call.
    match unsafe { libc::ppoll(&raw mut pollfd, 1, &raw const limit, std::ptr::null()) } {
        1.. => Ok(true),
        0 => Ok(false),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Which of `first` and `second` can be read without blocking, waiting at most `timeout` for one to be.
pub(crate) fn poll_two(first: BorrowedFd<'_>, second: BorrowedFd<'_>, timeout: Duration) -> io::Result<(bool, bool)> {
    let pollfd = |fd: BorrowedFd<'_>| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let mut fds = [pollfd(first), pollfd(second)];
    let limit = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: two valid pollfds and a valid timespec for the duration of the call.
    match unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &raw const limit, std::ptr::null()) } {
        0.. => Ok((fds[0].revents != 0, fds[1].revents != 0)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// A new descriptor for what `fd` is, closed on `exec`.
pub(crate) fn dup_cloexec(fd: i32) -> io::Result<File> {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC makes a new descriptor or returns -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is new and owned by nothing else.
    Ok(unsafe { File::from_raw_fd(new) })
}

/// Whether our child `pid` has exited, without reaping it (it is left for [`wait4`]).
pub(crate) fn has_exited(pid: pid_t) -> io::Result<bool> {
    // SAFETY: siginfo is plain data; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer; waiting for our own child; WNOWAIT leaves it to be reaped.
    let r = unsafe {
        libc::waitid(libc::P_PID, pid as libc::id_t, &raw mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: si_pid is set by waitid when a child changed state, 0 otherwise.
    Ok(unsafe { info.si_pid() } == pid)
}

/// Resource usage of a process, including the children it reaped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub user_cpu_s: f64,
    pub system_cpu_s: f64,
    pub max_rss_bytes: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

impl Usage {
    fn of(rusage: &libc::rusage) -> Self {
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Self {
            user_cpu_s: seconds(rusage.ru_utime),
            system_cpu_s: seconds(rusage.ru_stime),
            max_rss_bytes: (rusage.ru_maxrss as u64) * 1024,
            voluntary_switches: rusage.ru_nvcsw as u64,
            involuntary_switches: rusage.ru_nivcsw as u64,
        }
    }
}

/// Reaps our child `pid`, waiting for it, with its resource usage and that of the children it reaped.
/// Retried when a signal interrupts it.
pub(crate) fn wait4(pid: pid_t) -> io::Result<(ExitStatus, Usage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut rusage) };
        if r == pid {
            return Ok((ExitStatus::from_raw(status), Usage::of(&rusage)));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// CPU time, user and system, of this process and of every child it has reaped.
pub(crate) fn cpu_time_s() -> f64 {
    let usage = |who| {
        // SAFETY: rusage is plain data, filled by the kernel.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer for the duration of the call.
        unsafe { libc::getrusage(who, &raw mut rusage) };
        let usage = Usage::of(&rusage);
        usage.user_cpu_s + usage.system_cpu_s
    };
    usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN)
}

/// Reaps our child `pid`, waiting for it, and forgets how it ended.
pub(crate) fn reap(pid: pid_t) {
    // SAFETY: reaping our own child; a null status pointer is allowed.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

/// Sends `signal` to process `pid` (to process group `-pid` when negative); signal 0 only asks whether
/// the process exists.
pub(crate) fn kill(pid: pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether process `pid` is gone: no process has that pid (one the caller may not signal still exists).
pub(crate) fn is_gone(pid: pid_t) -> bool {
    matches!(kill(pid, 0), Err(e) if e.raw_os_error() == Some(libc::ESRCH))
}

/// Has `command`'s child die with the harness (even on `kill -9`).
pub(crate) fn die_with_harness(command: &mut Command) {
    // SAFETY: the hook runs between fork and exec and only calls prctl, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Caps the size of every file `command`'s child (and whatever it starts) writes at `bytes`: a write past it
/// fails, and `SIGXFSZ` ends the writer.
pub(crate) fn limit_file_size(command: &mut Command, bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
    // SAFETY: the hook runs between fork and exec and only calls setrlimit, which is async-signal-safe, on
    // a valid rlimit it owns.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The pids of the other processes whose environment holds the variable `var` (`NAME=VALUE`, exactly).
pub(crate) fn pids_with_env(var: &[u8]) -> Vec<pid_t> {
    other_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|e| e.split(|&b| b == 0).any(|v| v == var))
        })
        .collect()
}

/// The pids of the other processes that have `file` open (the same file, whatever its name or link).
pub(crate) fn pids_holding(file: &File) -> Vec<pid_t> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = file.metadata() else { return Vec::new() };
    let same = |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
    other_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| fds.flatten().any(|fd| same(&fd.path())))
        })
        .collect()
}

/// Every process in `/proc` but this one.
fn other_pids() -> Vec<pid_t> {
    let me = std::process::id() as pid_t;
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<pid_t>().ok()).filter(|&p| p != me).collect()
}

/// Makes this process the reaper of its descendants whose parent dies.
pub(crate) fn set_child_subreaper() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
}

/// Sets the accept queue of a bound socket (calling it again only changes the backlog).
pub(crate) fn listen(socket: &impl AsFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen on a descriptor that `socket` owns and keeps open for the call.
    if unsafe { libc::listen(socket.as_fd().as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The signal [`catch_signals`] caught first, 0 while none was.
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// How many of the signals [`catch_signals`] caught.
static COUNT: AtomicI32 = AtomicI32::new(0);

/// The process group the harness waits for outside a run (a hook's), 0 when none: killed with the harness
/// when a third signal ends it at once.
static WAITED_GROUP: AtomicI32 = AtomicI32::new(0);

/// Notes that the harness now waits for the process group `group` (0: none), so that a third signal kills
/// it before it ends the harness.
pub(crate) fn set_waited_group(group: pid_t) {
    WAITED_GROUP.store(group, Ordering::SeqCst);
}

extern "C" fn on_signal(signal: libc::c_int) {
    match COUNT.fetch_add(1, Ordering::SeqCst) {
        0 => CAUGHT.store(signal, Ordering::SeqCst),
        // The second asks to hurry: see `caught_twice`.
        1 => {}
        // The third acts as the signal does by default: it ends the harness, and the process group it
        // waits for (a hook's) with it.
        _ => {
            let group = WAITED_GROUP.load(Ordering::SeqCst);
            // SAFETY: kill, signal and raise are async-signal-safe; the signal is blocked until this returns.
            unsafe {
                if group > 0 {
                    libc::kill(-group, libc::SIGKILL);
                }
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
        }
    }
}

/// Signals blocked in the threads the catching thread starts, until [`Blocked::unblock`].
pub(crate) struct Blocked {
    set: libc::sigset_t,
}

/// Catches `signals`, noting the first in [`caught_signal`] and a second in [`caught_twice`] (a third acts
/// as the signal does by default), and blocks them in the threads the calling thread starts from now on. No
/// `SA_RESTART`: a blocking call of the calling thread ends with `EINTR`.
pub(crate) fn catch_signals(signals: &[libc::c_int]) -> Blocked {
    // SAFETY: sigset and sigaction are plain data initialised by the libc calls below; the handler only
    // stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for &signal in signals {
            libc::sigaddset(&raw mut set, signal);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&raw mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        Blocked { set }
    }
}

impl Blocked {
    /// Unblocks the signals in the calling thread.
    pub(crate) fn unblock(&self) {
        // SAFETY: unblocking signals of a valid set in this thread.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const self.set, std::ptr::null_mut()) };
    }
}

/// Whether a second signal came: the harness is asked to hurry.
pub(crate) fn caught_twice() -> bool {
    COUNT.load(Ordering::SeqCst) >= 2
}

/// The signal [`catch_signals`] caught, if one came.
pub(crate) fn caught_signal() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The clock ticks per second of `/proc/PID/stat`'s times.
pub(crate) fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes an integer and returns one.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// This process's standard input and output (descriptors 0 and 1) as files that are never closed: like
/// the standard library's own handles, they only borrow the descriptors for the life of the process.
pub(crate) fn standard_streams() -> (ManuallyDrop<File>, ManuallyDrop<File>) {
    // SAFETY: descriptors 0 and 1 stay open for the life of the process (`dup_onto` may replace what they
    // are, never close them), and the files never close them.
    unsafe { (ManuallyDrop::new(File::from_raw_fd(0)), ManuallyDrop::new(File::from_raw_fd(1))) }
}

/// Takes the lock of `file` (`flock`, exclusive) without waiting; fails with `EWOULDBLOCK` while another
/// open file description holds it.
pub(crate) fn try_lock(file: &impl AsFd) -> io::Result<()> {
    // SAFETY: flock on a descriptor `file` owns and keeps open for the call.
    if unsafe { libc::flock(file.as_fd().as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The type of the file system that `path` is on (`statfs`'s `f_type`, a magic number).
pub(crate) fn file_system_type(path: &Path) -> io::Result<i64> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: statfs is plain data, filled by the kernel.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out-pointer for the duration of the call.
    if unsafe { libc::statfs(path.as_ptr(), &raw mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's type differs between libcs
    Ok(stat.f_type as i64)
}

/// What `uname` says of the kernel and the machine.
pub(crate) struct Uname {
    pub sysname: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

/// The names of the kernel and the machine.
pub(crate) fn uname() -> io::Result<Uname> {
    // SAFETY: utsname is plain data, filled by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer for the duration of the call.
    if unsafe { libc::uname(&raw mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Uname {
        sysname: field(&uts.sysname),
        release: field(&uts.release),
        version: field(&uts.version),
        machine: field(&uts.machine),
    })
}

/// Makes a FIFO at `path`.
/// Opens `path` when it is a regular file (a FIFO, a device or a folder is refused, without blocking on
/// it), for reading, and for writing too when `write`.
pub(crate) fn regular_file(path: &Path, write: bool) -> io::Result<File> {
    // O_NONBLOCK: opening a FIFO does not wait for a writer; it means nothing for a regular file. A file
    // opened to be written is never reached through a symbolic link (O_NOFOLLOW), which could lead out of the
    // folder.
    let flags = if write { libc::O_NONBLOCK | libc::O_NOFOLLOW } else { libc::O_NONBLOCK };
    let file = std::fs::OpenOptions::new().read(true).write(write).custom_flags(flags).open(path).map_err(|e| {
        if write && e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link: the harness writes a result folder's files in place only",
                    path.display()
                ),
            )
        } else {
            e
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    Ok(file)
}

/// Reads all of `file` (`path`), refusing one longer than `max` bytes.
pub(crate) fn read_bounded(file: &mut File, path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is longer than the {} the harness reads", path.display(), crate::fmt::format_size(max)),
        ));
    }
    Ok(bytes)
}

/// Reads the regular file `path`, of at most `max` bytes.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_bounded(&mut regular_file(path, false)?, path, max)
}

#[cfg(test)]
pub(crate) fn mkfifo(path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: mkfifo on a NUL-terminated path.
    if unsafe { libc::mkfifo(path.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe, both ends closed on `exec`: (the end to read, the end to write).
pub(crate) fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors into a valid array of two.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// The text of a small file the kernel makes up as it is read (in `/proc`, or a cgroup's), read with as
/// few system calls as can be: `std::fs::read_to_string` asks for the size, which such files give as 0,
/// and then reads in steps that start at 32 bytes.
pub(crate) fn read_small(path: impl AsRef<Path>) -> io::Result<String> {
    read_rest(&mut File::open(path)?)
}

/// What is left to read of `file`, as [`read_small`] reads it.
pub(crate) fn read_rest(mut file: impl std::io::Read) -> io::Result<String> {
    let mut bytes = Vec::with_capacity(4096);
    loop {
        if bytes.len() == bytes.capacity() {
            bytes.reserve(bytes.capacity());
        }
        let len = bytes.len();
        let spare = bytes.capacity() - len;
        bytes.resize(len + spare, 0);
        match file.read(&mut bytes[len..]) {
            Ok(0) => {
                bytes.truncate(len);
                break;
            }
            Ok(n) => bytes.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => bytes.truncate(len),
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    /// A file longer than the first buffer is read whole; one the kernel makes up is read as it is.
    #[test]
    fn small_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let long = "0123456789abcdef".repeat(1000);
        std::fs::write(dir.path().join("long"), &long).unwrap();
        assert_eq!(super::read_small(dir.path().join("long")).unwrap(), long);
        let stat = super::read_small("/proc/self/stat").unwrap();
        assert!(stat.starts_with(&format!("{} (", std::process::id())), "{stat}");
        assert!(super::read_small(dir.path().join("absent")).is_err());
    }
}
