//! Running a program: the `exec` step, blocking or on tokio (cargo feature `tokio`), and the harness's
//! hooks, which are programs too.
//!
//! The program's standard output is read when the step hashes it or a metric reads it, its standard error
//! always: its last 64 KiB go on to the run's own standard error (so into the run's log), its last lines
//! into the error of a program that failed. What a program prints is hashed as it arrives and kept only
//! as far as needed ([`Captured`]), so a program that prints gigabytes costs the run no memory: only a
//! stream a metric reads is kept whole, up to [`MAX_READ_BYTES`]. Reading stops when the program has
//! exited and its pipes are drained, so a process it left behind that keeps a pipe open does not hold up
//! the task; such a process is killed with the run (the harness kills the run's process group and cgroup).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use crate::protocol::{Exec, Output};

/// What a program left when it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Its standard output, when it was read.
    pub stdout: Captured,
    pub stderr: Captured,
}

/// The most of one stream of a program that a metric reads: more fails the task, with a message.
pub const MAX_READ_BYTES: u64 = 64 << 20;

/// The end of a stream kept when nothing reads the whole of it: for the run's log and the error's last
/// lines.
pub const TAIL_BYTES: usize = 64 << 10;

/// What the harness keeps of one stream of a program: its hash (when the step yields it), and either the
/// whole of it (a metric reads it; up to [`MAX_READ_BYTES`]) or its last [`TAIL_BYTES`].
pub struct Captured {
    hasher: Option<xxhash_rust::xxh3::Xxh3>,
    kept: Vec<u8>,
    whole: bool,
    total: u64,
}

// The hasher's state shows as its digest.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captured")
            .field("hash", &self.hash())
            .field("kept", &self.kept.len())
            .field("whole", &self.whole)
            .field("total", &self.total)
            .finish()
    }
}

/// What is kept of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// All of it, for a metric.
    Whole,
    /// Its end.
    Tail,
}

impl Captured {
    /// A stream to keep as `keep` says, hashed when `hash`.
    pub fn new(keep: Keep, hash: bool) -> Self {
        Self {
            hasher: hash.then(|| xxhash_rust::xxh3::Xxh3::with_seed(0)),
            kept: Vec::new(),
            whole: keep == Keep::Whole,
            total: 0,
        }
    }

    /// Takes `bytes`, the next of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        if self.whole {
            if self.total <= MAX_READ_BYTES {
                self.kept.extend_from_slice(bytes);
            }
        } else {
            self.kept.extend_from_slice(bytes);
            // Trimmed once it holds twice the tail, so that each byte is moved at most once.
            if self.kept.len() > 2 * TAIL_BYTES {
                self.kept.drain(..self.kept.len() - TAIL_BYTES);
            }
        }
    }

    /// The hash of the whole stream (what `hash_bytes` gives of all of it), when it was hashed.
    pub fn hash(&self) -> Option<u64> {
        self.hasher.as_ref().map(xxhash_rust::xxh3::Xxh3::digest)
    }

    /// How many bytes the stream had.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The whole stream, for a metric; an error when it was longer than [`MAX_READ_BYTES`].
    pub fn whole(&self, what: &str) -> io::Result<&[u8]> {
        if self.total > self.kept.len() as u64 {
            return Err(io::Error::other(format!(
                "its {what} was {} bytes, more than the {} MiB a metric reads: print less, or read the number \
                 from a file the program writes",
                self.total,
                MAX_READ_BYTES >> 20
            )));
        }
        Ok(&self.kept)
    }

    /// Its last [`TAIL_BYTES`] at most, and how many bytes came before them.
    pub fn tail(&self) -> (&[u8], u64) {
        let start = self.kept.len().saturating_sub(TAIL_BYTES);
        let tail = if self.whole && self.total > self.kept.len() as u64 { &[][..] } else { &self.kept[start..] };
        (tail, self.total - tail.len() as u64)
    }
}

/// `text` with `${task}` and `${worker}` replaced by `task` and `worker`.
pub fn expand(text: &str, task: u64, worker: u32) -> String {
    if !text.contains("${") {
        return text.to_owned();
    }
    text.replace("${task}", &task.to_string()).replace("${worker}", &worker.to_string())
}

/// The command line of `exec` for messages: its words, quoted where they hold spaces.
pub fn command_line(exec: &Exec, task: u64, worker: u32) -> String {
    let words: Vec<String> = exec
        .argv
        .iter()
        .map(|word| {
            let word = expand(word, task, worker);
            if word.is_empty() || word.contains(char::is_whitespace) { format!("'{word}'") } else { word }
        })
        .collect();
    words.join(" ")
}

/// The command for task `task` on worker `worker`: `${task}` and `${worker}` substituted everywhere,
/// `HARNESS_TASK` and `HARNESS_WORKER` in its environment, its standard output piped when `read_stdout`,
/// its standard error piped.
pub fn command(exec: &Exec, task: u64, worker: u32, read_stdout: bool) -> io::Result<Command> {
    let Some((program, args)) = exec.argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a program to run has an empty command"));
    };
    let mut command = Command::new(expand(program, task, worker));
    command.args(args.iter().map(|a| expand(a, task, worker)));
    command.env("HARNESS_TASK", task.to_string()).env("HARNESS_WORKER", worker.to_string());
    for (key, value) in &exec.env {
        command.env(key, expand(value, task, worker));
    }
    if let Some(cwd) = &exec.cwd {
        command.current_dir(expand(cwd, task, worker));
    }
    match &exec.stdin {
        Some(path) => {
            let path = expand(path, task, worker);
            let file = std::fs::File::open(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot open its stdin {path}: {e}")))?;
            command.stdin(file);
        }
        None => {
            command.stdin(Stdio::null());
        }
    }
    command.stdout(if read_stdout { Stdio::piped() } else { Stdio::null() }).stderr(Stdio::piped());
    Ok(command)
}

/// Runs `exec` for task `task` on worker `worker` and waits for it, blocking the calling thread.
pub fn run_blocking(exec: &Exec, task: u64, worker: u32, streams: Reads) -> io::Result<Finished> {
    let mut child = command(exec, task, worker, streams.stdout.is_some())
        .and_then(|mut c| c.spawn())
        .map_err(|e| cannot_start(exec, task, worker, &e))?;
    let pidfd = pidfd_open(child.id());
    let file = |fd: std::os::fd::OwnedFd| std::fs::File::from(fd);
    let (stdout, stderr) = streams.captures(exec);
    let mut pipes = [
        Pipe::new(child.stdout.take().map(|p| file(p.into())), stdout),
        Pipe::new(child.stderr.take().map(|p| file(p.into())), stderr),
    ];
    let mut exited = false;
    while !exited && pipes.iter().any(Pipe::open) {
        let mut fds: Vec<libc::pollfd> = pipes
            .iter()
            .filter_map(Pipe::fd)
            .chain(pidfd.as_ref().map(AsRawFd::as_raw_fd))
            .map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for pollfd in fds.iter().filter(|p| p.revents != 0) {
            if pidfd.as_ref().is_some_and(|p| p.as_raw_fd() == pollfd.fd) {
                exited = true;
            } else if let Some(pipe) = pipes.iter_mut().find(|p| p.fd() == Some(pollfd.fd)) {
                pipe.read_some()?;
            }
        }
    }
    // What the program wrote before it exited is in the pipes; what a process it left behind writes
    // later is not waited for.
    for pipe in &mut pipes {
        pipe.drain()?;
    }
    let status = child.wait()?;
    let [stdout, stderr] = pipes.map(|p| p.captured);
    Ok(Finished { status, stdout, stderr })
}

/// Which of a program's streams are read, and how: its standard output when the step hashes it or a
/// metric reads it (`Some(Keep::Whole)` then), its standard error always, whole when a metric reads it.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    pub stdout: Option<Keep>,
    pub stderr: Keep,
}

impl Reads {
    /// What `exec` needs read, with metrics that read its standard output and standard error or not.
    pub fn of(exec: &Exec, metric_reads_stdout: bool, metric_reads_stderr: bool) -> Self {
        let whole = |read: bool| if read { Keep::Whole } else { Keep::Tail };
        Self {
            stdout: (exec.output == Output::Hash || metric_reads_stdout).then_some(whole(metric_reads_stdout)),
            stderr: whole(metric_reads_stderr),
        }
    }

    /// The two captures, the standard output hashed when the step yields its hash.
    fn captures(self, exec: &Exec) -> (Captured, Captured) {
        (
            Captured::new(self.stdout.unwrap_or(Keep::Tail), exec.output == Output::Hash),
            Captured::new(self.stderr, false),
        )
    }
}

/// One of a child's output pipes, and what was read from it.
struct Pipe {
    reader: Option<std::fs::File>,
    captured: Captured,
}

impl Pipe {
    fn new(reader: Option<std::fs::File>, captured: Captured) -> Self {
        Self { reader, captured }
    }

    fn open(&self) -> bool {
        self.reader.is_some()
    }

    fn fd(&self) -> Option<i32> {
        self.reader.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Reads what is there (the pipe is readable); closes it at end of file.
    fn read_some(&mut self) -> io::Result<()> {
        let Some(reader) = &mut self.reader else { return Ok(()) };
        let mut chunk = [0u8; 16 * 1024];
        match reader.read(&mut chunk) {
            Ok(0) => self.reader = None,
            Ok(n) => self.captured.push(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Reads whatever the pipe holds without waiting for more.
    fn drain(&mut self) -> io::Result<()> {
        let Some(reader) = &mut self.reader else { return Ok(()) };
        set_nonblocking(reader.as_raw_fd())?;
        drain_fd(reader.as_raw_fd(), &mut self.captured)?;
        self.reader = None;
        Ok(())
    }
}

/// Reads a non-blocking descriptor until it would block or ends.
fn drain_fd(fd: i32, captured: &mut Captured) -> io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // SAFETY: reading into a buffer of `chunk.len()` writable bytes from an open descriptor.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => return Ok(()),
            n if n > 0 => captured.push(&chunk[..n as usize]),
            _ => {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock => return Ok(()),
                    _ => return Err(error),
                }
            }
        }
    }
}

fn set_nonblocking(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A descriptor that becomes readable when process `pid` exits; `None` where the kernel has no pidfd,
/// and then reading goes on to the end of the pipes.
fn pidfd_open(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a descriptor just returned by the kernel, owned by nothing else.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Runs `exec` for task `task` on worker `worker` on tokio, awaiting its exit without blocking the
/// runtime's thread.
#[cfg(feature = "tokio")]
pub async fn run_async(exec: &Exec, task: u64, worker: u32, reads: Reads) -> io::Result<Finished> {
    use tokio::io::AsyncReadExt;

    enum Event {
        Stdout(io::Result<usize>),
        Stderr(io::Result<usize>),
        Exited(io::Result<ExitStatus>),
    }
    async fn read<R: tokio::io::AsyncRead + Unpin>(pipe: &mut Option<R>, chunk: &mut [u8]) -> io::Result<usize> {
        match pipe {
            Some(pipe) => pipe.read(chunk).await,
            None => std::future::pending().await,
        }
    }

    let mut child = command(exec, task, worker, reads.stdout.is_some())
        .and_then(|c| tokio::process::Command::from(c).spawn())
        .map_err(|e| cannot_start(exec, task, worker, &e))?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = reads.captures(exec);
    let (mut out_chunk, mut err_chunk) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let status = loop {
        let event = tokio::select! {
            n = read(&mut stdout, &mut out_chunk) => Event::Stdout(n),
            n = read(&mut stderr, &mut err_chunk) => Event::Stderr(n),
            status = child.wait() => Event::Exited(status),
        };
        match event {
            Event::Stdout(n) => match n? {
                0 => stdout = None,
                n => out.push(&out_chunk[..n]),
            },
            Event::Stderr(n) => match n? {
                0 => stderr = None,
                n => err.push(&err_chunk[..n]),
            },
            Event::Exited(status) => break status?,
        }
    };
    // tokio's pipes are non-blocking already.
    if let Some(pipe) = &stdout {
        drain_fd(pipe.as_raw_fd(), &mut out)?;
    }
    if let Some(pipe) = &stderr {
        drain_fd(pipe.as_raw_fd(), &mut err)?;
    }
    Ok(Finished { status, stdout: out, stderr: err })
}

fn cannot_start(exec: &Exec, task: u64, worker: u32, error: &io::Error) -> io::Error {
    let program = exec.argv.first().map(|p| expand(p, task, worker)).unwrap_or_default();
    io::Error::new(error.kind(), format!("task {task}: cannot start `{program}`: {error}"))
}

/// Checks how a program ended against `exec.ok`: the value it yields (its output's hash or its exit
/// status), or an error naming the program, its status and the last lines of its standard error.
pub fn outcome(exec: &Exec, task: u64, worker: u32, finished: &Finished) -> io::Result<u64> {
    let code = finished.status.code();
    if let Some(code) = code.filter(|c| exec.ok.contains(c)) {
        return Ok(match exec.output {
            Output::Hash => finished.stdout.hash().unwrap_or_else(|| crate::checksum::hash_bytes(b"")),
            Output::Ignore => code as u64,
        });
    }
    let stderr = String::from_utf8_lossy(finished.stderr.tail().0);
    let tail = last_lines(&stderr, 3);
    let ok: Vec<String> = exec.ok.iter().map(ToString::to_string).collect();
    let expected = if code.is_some() { format!(" (ok: {})", ok.join(", ")) } else { String::new() };
    let mut message =
        format!("task {task}: `{}` {}{expected}", command_line(exec, task, worker), describe_exit(finished.status));
    if !tail.is_empty() {
        message.push_str(": ");
        message.push_str(&tail);
    }
    Err(io::Error::other(message))
}

/// "exited with code 3", "was killed by signal 11 (SIGSEGV)".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(signal) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        None => "ended in an unknown way".to_owned(),
    }
}

/// `SIGSEGV` for 11, and so on for the signals a program or the harness meets.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => "signal",
    }
}

/// The most characters of one line [`last_lines`] keeps: its end, where a program says its last words.
pub const MAX_LINE_CHARS: usize = 400;

/// The last `n` non-blank lines of `text`, joined with " | "; a line longer than [`MAX_LINE_CHARS`] is cut
/// to its end, with a note of what was left out. A Rust program's backtrace (with `RUST_BACKTRACE` set)
/// comes after its last words and is left out: what it said before the last `stack backtrace:` counts.
pub fn last_lines(text: &str, n: usize) -> String {
    let text = match text.rfind("stack backtrace:") {
        Some(at) if at == 0 || text.as_bytes()[at - 1] == b'\n' => &text[..at],
        _ => text,
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let cut = |line: &str| {
        let count = line.chars().count();
        if count <= MAX_LINE_CHARS {
            return line.to_owned();
        }
        let end: String = line.chars().skip(count - MAX_LINE_CHARS).collect();
        format!("[{} characters left out] ...{end}", count - MAX_LINE_CHARS)
    };
    lines[lines.len().saturating_sub(n)..].iter().map(|l| cut(l)).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backtrace_after_the_last_words_is_left_out() {
        let text = "memory allocation of 68719476736 bytes failed\nstack backtrace:\n   0: std::backtrace\n   1: main\nnote: Some details are omitted\n";
        assert_eq!(last_lines(text, 3), "memory allocation of 68719476736 bytes failed");
        let panicked = "thread 'main' panicked at src/main.rs:3:5:\nboom\nstack backtrace:\n   0: x\n";
        assert_eq!(last_lines(panicked, 3), "thread 'main' panicked at src/main.rs:3:5: | boom");
        // Words that merely mention it are kept.
        assert_eq!(last_lines("a\nno stack backtrace: here", 3), "a | no stack backtrace: here");
    }

    fn exec(argv: &[&str], output: Output) -> Exec {
        Exec {
            argv: argv.iter().map(|&a| a.to_owned()).collect(),
            env: vec![("WHO".to_owned(), "w${worker}".to_owned())],
            cwd: None,
            stdin: None,
            output,
            ok: vec![0],
        }
    }

    #[test]
    fn a_program_gets_its_task_and_worker() {
        let e = exec(&["sh", "-c", "echo ${task} $HARNESS_TASK $HARNESS_WORKER $WHO"], Output::Hash);
        let finished = run_blocking(&e, 7, 2, Reads::of(&e, true, false)).unwrap();
        assert_eq!(String::from_utf8_lossy(finished.stdout.whole("output").unwrap()), "7 7 2 w2\n");
        assert_eq!(outcome(&e, 7, 2, &finished).unwrap(), crate::checksum::hash_bytes(b"7 7 2 w2\n"));
    }

    #[test]
    fn a_failing_program_names_its_status_and_stderr() {
        let e = exec(&["sh", "-c", "echo one >&2; echo two >&2; exit 3"], Output::Ignore);
        let finished = run_blocking(&e, 0, 0, Reads::of(&e, false, false)).unwrap();
        let error = outcome(&e, 0, 0, &finished).unwrap_err().to_string();
        assert_eq!(error, "task 0: `sh -c 'echo one >&2; echo two >&2; exit 3'` exited with code 3 (ok: 0): one | two");
        let missing = exec(&["no-such-program-here"], Output::Hash);
        let missing = run_blocking(&missing, 4, 0, Reads::of(&missing, false, false)).unwrap_err();
        assert!(missing.to_string().starts_with("task 4: cannot start `no-such-program-here`: "), "{missing}");
    }

    #[test]
    fn a_process_left_behind_with_the_pipe_open_does_not_hold_up_the_task() {
        // The background `sleep` keeps stdout open: reading must end when `sh` has exited, while it lives.
        let e = exec(&["sh", "-c", "sleep 60 & echo $!"], Output::Hash);
        let finished = run_blocking(&e, 0, 0, Reads::of(&e, true, false)).unwrap();
        let pid: i32 = String::from_utf8_lossy(finished.stdout.whole("output").unwrap()).trim().parse().unwrap();
        // SAFETY: signal 0 only checks that the process exists; then it is killed, by its pid.
        unsafe {
            assert_eq!(libc::kill(pid, 0), 0, "the left-behind process ended before reading did");
            libc::kill(pid, libc::SIGKILL);
        }
    }

    /// A program that prints a lot is hashed as it prints, the same hash as of all its bytes, and only the
    /// tail of its standard error is kept; a metric's stream is kept whole up to its bound.
    #[test]
    fn output_is_hashed_as_it_arrives_and_only_a_tail_is_kept() {
        let e =
            exec(&["sh", "-c", "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero | tr '\\0' x >&2"], Output::Hash);
        let finished = run_blocking(&e, 0, 0, Reads::of(&e, false, false)).unwrap();
        assert_eq!(finished.stdout.hash(), Some(crate::checksum::hash_bytes(&vec![0u8; 3_000_000])));
        assert_eq!(finished.stdout.total(), 3_000_000);
        let (tail, before) = finished.stderr.tail();
        assert_eq!((tail.len(), before), (TAIL_BYTES, 3_000_000 - TAIL_BYTES as u64));
        assert!(tail.iter().all(|&b| b == b'x'));
        let mut kept = Captured::new(Keep::Whole, false);
        kept.push(&vec![b'1'; MAX_READ_BYTES as usize]);
        assert_eq!(kept.whole("output").unwrap().len() as u64, MAX_READ_BYTES);
        kept.push(b"2");
        assert!(kept.whole("output").unwrap_err().to_string().contains("more than the 64 MiB a metric reads"));
        assert_eq!(kept.tail(), (&[][..], MAX_READ_BYTES + 1));
    }
}
