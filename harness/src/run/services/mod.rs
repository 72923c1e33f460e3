//! What the harness sets up outside the process under test: fixture files for `read_file`, the loopback
//! server for `net`, and the counter file for `shared`, each as long as the experiment's run; and the
//! experiment's own `[services]` ([`managed`]).

mod managed;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness_sdk::protocol::{Resources, Step};
use harness_sdk::workload::{fixture_file_name, fixture_file_stream, net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) use managed::ServiceUsage;
pub(super) use managed::{Managed, Unavailable};

use super::sys;
use crate::experiment::Experiment;

/// Scratch folders are `<temp>/harness-XXXXXX`, with the pid of the harness that made them in `owner.pid`.
const SCRATCH_PREFIX: &str = "harness-";
const OWNER: &str = "owner.pid";

/// Removes the scratch folders of harnesses that died without cleaning up (`kill -9`): those whose owner is
/// no longer alive. A folder without an owner file, or whose owner lives, is left alone.
fn remove_abandoned_scratch() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let named = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(SCRATCH_PREFIX));
        let Some(pid) = named
            .then(|| std::fs::read_to_string(path.join(OWNER)).ok())
            .flatten()
            .and_then(|t| t.trim().parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // Signal 0 only asks whether the process exists.
        let gone = matches!(sys::kill(pid, 0), Err(e) if e.raw_os_error() == Some(libc::ESRCH));
        if gone {
            super::reap::kill_left_behind(&path);
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The services of one experiment. Dropping it removes the fixture files and stops the server.
pub(super) struct Services {
    scratch: tempfile::TempDir,
    files_dir: Option<PathBuf>,
    /// The fixture files to write, (size, count): see [`Services::write_fixtures`].
    fixtures: BTreeSet<(u64, u32)>,
    net_addr: Option<SocketAddr>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<()>>,
    /// What the experiment's results should say about the services: a queue smaller than it asked for.
    pub warnings: Vec<String>,
}

impl Services {
    /// Starts what `experiment`'s workloads need, before any run starts: the scratch folder and the
    /// server. The fixture files come after, from [`Services::write_fixtures`].
    pub(super) fn start(experiment: &Experiment) -> io::Result<Self> {
        remove_abandoned_scratch();
        let scratch = tempfile::Builder::new().prefix(SCRATCH_PREFIX).tempdir()?;
        std::fs::write(scratch.path().join(OWNER), std::process::id().to_string())?;
        let steps = experiment.cells.iter().flat_map(|c| c.workload.steps.iter());
        let mut fixtures = BTreeSet::new();
        let mut wants_net = false;
        let mut bounds = NetBounds::default();
        for step in steps {
            match *step {
                Step::ReadFile { size, files } => {
                    fixtures.insert((size, files));
                }
                Step::Net { request, response, delay_nanos, .. } => {
                    wants_net = true;
                    bounds.request = bounds.request.max(request);
                    bounds.response = bounds.response.max(response);
                    bounds.delay_nanos = bounds.delay_nanos.max(delay_nanos);
                }
                _ => {}
            }
        }
        // No run keeps more connections in flight than it has tasks: the accept queue holds them all.
        let connections = experiment
            .cells
            .iter()
            .filter(|c| c.workload.steps.iter().any(|s| matches!(s, Step::Net { .. })))
            .map(|c| c.workload.tasks)
            .max()
            .unwrap_or(0);
        let mut services = Services {
            files_dir: None,
            fixtures,
            net_addr: None,
            shutdown: None,
            server: None,
            scratch,
            warnings: Vec::new(),
        };
        if wants_net {
            services.start_server(connections, bounds)?;
        }
        Ok(services)
    }

    /// Writes the fixture files of `read_file` steps, each in pieces (never whole in memory), and stops as
    /// soon as the harness is interrupted: then the runs do not start either. Called where Ctrl-C and
    /// SIGTERM reach this thread.
    pub(super) fn write_fixtures(&mut self, seed: u64, interrupted: impl Fn() -> bool) -> io::Result<()> {
        use std::io::Write as _;
        const PIECE: usize = 1 << 20;
        if self.fixtures.is_empty() {
            return Ok(());
        }
        let dir = self.scratch.path().join("files");
        std::fs::create_dir_all(&dir)?;
        self.files_dir = Some(dir.clone());
        let mut piece = vec![0u8; PIECE];
        for &(size, files) in &self.fixtures {
            for index in 0..files {
                let path = dir.join(fixture_file_name(size, index));
                if path.exists() {
                    continue;
                }
                let mut file = std::fs::File::create(&path)?;
                let mut content = fixture_file_stream(seed, size, index);
                let mut left = size;
                while left > 0 {
                    if interrupted() {
                        return Ok(());
                    }
                    let n = left.min(PIECE as u64) as usize;
                    content.fill(&mut piece[..n]);
                    file.write_all(&piece[..n])?;
                    left -= n as u64;
                }
                if interrupted() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The resources of the `index`th run of the schedule, whose folder is `run_dir`; `shared_file` is
    /// fresh (zero) for each run whose steps use it (`shared`).
    pub(super) fn resources(&self, run_dir: &Path, index: usize, shared: bool) -> io::Result<Resources> {
        let shared_file = run_dir.join("shared.counter");
        if shared {
            // Written over in place: the folder serves every run.
            let counter = std::fs::File::options().create(true).write(true).truncate(false).open(&shared_file)?;
            std::os::unix::fs::FileExt::write_all_at(&counter, &0u64.to_le_bytes(), 0)?;
        }
        Ok(Resources {
            files_dir: self.files_dir.clone(),
            net_addr: self.net_addr.map(|a| a.to_string()),
            shared_file: Some(shared_file),
            // Unique to this harness and run, so runs sharing a Redis server never share a counter.
            shared_key: Some(format!("harness:{}:run-{index}", std::process::id())),
        })
    }

    /// A folder for temporary files of this experiment.
    pub(super) fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Whether a `net` server runs: then [`listen_overflows`] is worth reading around each run.
    pub(super) fn serves_net(&self) -> bool {
        self.net_addr.is_some()
    }

    fn start_server(&mut self, connections: u64, bounds: NetBounds) -> io::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        // The standard library listens with a backlog of 128. Connections beyond it are dropped and their
        // clients retry after a second, which would be measured as a second of waiting: listen again
        // with room for every connection a run can open at once (the kernel caps it at `somaxconn`).
        let backlog = connections.clamp(128, i32::MAX as u64) as i32;
        if let Some(cap) = somaxconn().filter(|&cap| cap < connections) {
            self.warnings.push(format!(
                "a run can open {connections} connections at once but the system caps accept queues at {cap} \
                 (net.core.somaxconn): raise it with `sysctl -w net.core.somaxconn={connections}`, or watch \
                 the listen_overflows column"
            ));
        }
        // `listener` is bound and listening already: calling listen again only changes the backlog.
        sys::listen(&listener, backlog)?;
        listener.set_nonblocking(true)?;
        self.net_addr = Some(listener.local_addr()?);
        let (shutdown, stop) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let server = std::thread::Builder::new().name("net-server".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                tokio::select! {
                    () = accept_loop(listener, bounds) => {}
                    _ = stop => {}
                }
            });
        })?;
        self.shutdown = Some(shutdown);
        self.server = Some(server);
        Ok(())
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// The most a request may ask of the loopback server: what the experiment's `net` steps declare. The
/// server listens on 127.0.0.1 only, but any local process may connect to it; what it asks is bounded by
/// the experiment's own steps, so no request can make the server send, wait or read more than a run may.
#[derive(Debug, Clone, Copy, Default)]
struct NetBounds {
    request: u64,
    response: u64,
    delay_nanos: u64,
}

impl NetBounds {
    fn allow(self, request: u64, response: u64, delay_nanos: u64) -> bool {
        request <= self.request && response <= self.response && delay_nanos <= self.delay_nanos
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, bounds: NetBounds) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, bounds));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// Answers requests on one connection until the client closes it: after the request's delay, an answer
/// header and the response body, streamed in chunks so that no answer is ever held in memory whole. A
/// request that asks more than `bounds` allow closes the connection unanswered.
async fn serve(mut stream: tokio::net::TcpStream, bounds: NetBounds) {
    const CHUNK: usize = 64 * 1024;
    let _ = stream.set_nodelay(true);
    let mut header = [0u8; net::HEADER_LEN];
    let mut buffer = vec![0u8; CHUNK];
    loop {
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let (request, response, delay) = net::parse_header(&header);
        if !bounds.allow(request, response, delay) {
            return;
        }
        let mut left = request;
        while left > 0 {
            let chunk = left.min(CHUNK as u64) as usize;
            if stream.read_exact(&mut buffer[..chunk]).await.is_err() {
                return;
            }
            left -= chunk as u64;
        }
        if delay > 0 {
            // tokio's timer rounds up to its next millisecond tick; the SDK's timer waits what was asked.
            harness_sdk::timer::sleep(Duration::from_nanos(delay)).await;
        }
        if stream.write_all(&response.to_le_bytes()).await.is_err() {
            return;
        }
        let mut sent = 0;
        while sent < response {
            let chunk = (response - sent).min(CHUNK as u64) as usize;
            net::fill_body(sent, &mut buffer[..chunk]);
            if stream.write_all(&buffer[..chunk]).await.is_err() {
                return;
            }
            sent += chunk as u64;
        }
    }
}

/// The system-wide count of connections dropped because a listen queue was full (`ListenOverflows` in
/// `/proc/net/netstat`), or `None` where the kernel does not say.
pub(super) fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// The accept queue the kernel allows at most (`net.core.somaxconn`).
pub(super) fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Instant;

    use super::*;

    /// A server on a thread of its own, as `Services` runs it, for requests of up to 1 MiB each way and a
    /// delay of up to 50ms.
    fn server() -> SocketAddr {
        let bounds = NetBounds { request: 1 << 20, response: 1 << 20, delay_nanos: 50_000_000 };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async { accept_loop(tokio::net::TcpListener::from_std(listener).unwrap(), bounds).await });
        });
        addr
    }

    #[test]
    fn an_empty_answer_comes_after_the_delay_with_its_header() {
        let mut stream = std::net::TcpStream::connect(server()).unwrap();
        for (response, delay) in
            [(0u64, Duration::from_millis(20)), (3, Duration::from_micros(200)), (0, Duration::ZERO)]
        {
            let start = Instant::now();
            stream.write_all(&net::request(5, response, delay.as_nanos() as u64)).unwrap();
            let mut header = [0u8; net::ANSWER_HEADER_LEN];
            stream.read_exact(&mut header).unwrap();
            // The answer cannot come before the server has waited what the request asked.
            assert!(start.elapsed() >= delay, "answered after {:?}, asked {delay:?}", start.elapsed());
            net::check_answer(&header, response).unwrap();
            let mut body = vec![0u8; response as usize];
            stream.read_exact(&mut body).unwrap();
            assert_eq!(body, net::body(response));
        }
    }

    #[test]
    fn a_large_answer_is_streamed_whole() {
        let mut stream = std::net::TcpStream::connect(server()).unwrap();
        let response = 3 * 64 * 1024 + 17;
        stream.write_all(&net::request(0, response, 0)).unwrap();
        let mut answer = vec![0u8; net::ANSWER_HEADER_LEN + response as usize];
        stream.read_exact(&mut answer).unwrap();
        net::check_answer(answer[..8].try_into().unwrap(), response).unwrap();
        assert_eq!(&answer[8..], net::body(response).as_slice());
    }

    #[test]
    fn a_request_asking_more_than_the_experiment_declares_is_refused_unanswered() {
        let addr = server();
        for (request, response, delay) in [(1u64 << 40, 0, 0), (0, 1 << 40, 0), (0, 0, u64::MAX), ((1 << 20) + 1, 0, 0)]
        {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(&net::header(request, response, delay)).unwrap();
            let mut answer = Vec::new();
            // The server closes the connection without a byte of answer.
            stream.read_to_end(&mut answer).unwrap();
            assert!(answer.is_empty(), "{request} {response} {delay}: {} bytes", answer.len());
        }
        // Within the bounds the same server answers.
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(&net::request(1 << 20, 1 << 20, 0)).unwrap();
        let mut header = [0u8; net::ANSWER_HEADER_LEN];
        stream.read_exact(&mut header).unwrap();
        net::check_answer(&header, 1 << 20).unwrap();
    }

    #[test]
    fn overflows_are_read_from_the_kernel() {
        // Every Linux kernel this runs on counts them; the value itself is the whole system's.
        assert!(listen_overflows().is_some());
        assert!(somaxconn().is_some_and(|n| n > 0));
    }
}
