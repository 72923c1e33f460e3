//! The `http` step: one HTTP/1.1 request, keep-alive by default: a connection per task slot, kept for its
//! next request, over the SDK's own lean client ([`crate::http1`]). Blocking, a connection per worker
//! thread or process and server; without blocking, a pool of idle connections that grows to the tasks in
//! flight and no further, each connection driven by the task that holds it. `connect = "per_request"`
//! opens a connection for each request. The answer's status must be one of `expect` (any 2xx when empty);
//! the step yields the status and the body's hash, or the status alone. The answer's body is hashed as it
//! arrives, never held whole: a body of gigabytes costs the run no memory.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{Cost, Work};
use crate::checksum::fold;
use crate::http1::{self, Url};
use crate::protocol::{Connect, HttpBody, HttpChecksum, HttpRequest};
use crate::workload::Prepared;

/// The request's URL for task `task`.
fn url(request: &HttpRequest, task: u64) -> std::borrow::Cow<'_, str> {
    // Most URLs name no task: they are used as written, with no string made per request.
    if request.url.contains("${task}") {
        request.url.replace("${task}", &task.to_string()).into()
    } else {
        request.url.as_str().into()
    }
}

/// The bytes of the request's body.
fn body<'a>(request: &'a HttpRequest, prepared: &'a Prepared) -> &'a [u8] {
    match &request.body {
        HttpBody::Empty => &[],
        HttpBody::Seeded(bytes) => &prepared.data[..*bytes as usize],
        HttpBody::Text(text) => text.as_bytes(),
    }
}

/// The hash of an answer's body, taken as its bytes arrive: `hash_bytes` of the whole body. A body that
/// came whole in one read is hashed in one pass; one in pieces goes through the streaming state (600
/// bytes, aligned to 64), made once per worker or connection and started again for the next answer that
/// needs it, so that a request neither sets one up nor carries one in its future.
struct BodyHash {
    stream: Box<xxhash_rust::xxh3::Xxh3>,
    /// The stream has taken bytes since it was last started.
    streamed: bool,
    /// The hash of a body that came whole.
    whole: Option<u64>,
}

impl std::fmt::Debug for BodyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyHash")
    }
}

impl BodyHash {
    fn new() -> Self {
        Self { stream: Box::new(xxhash_rust::xxh3::Xxh3::with_seed(0)), streamed: false, whole: None }
    }

    /// Starts a new body's hash.
    fn restart(&mut self) -> &mut Self {
        if self.streamed {
            self.stream.reset();
            self.streamed = false;
        }
        self.whole = None;
        self
    }

    fn digest(&self) -> u64 {
        self.whole.unwrap_or_else(|| self.stream.digest())
    }
}

impl http1::Sink for BodyHash {
    fn piece(&mut self, bytes: &[u8]) {
        self.streamed = true;
        self.stream.update(bytes);
    }

    fn whole(&mut self, bytes: &[u8]) {
        self.whole = Some(crate::checksum::hash_bytes(bytes));
    }
}

/// What the step yields for an answer, or why the answer is not a success.
fn value(request: &HttpRequest, url: &str, status: u16, body: &BodyHash) -> io::Result<u64> {
    let expected =
        if request.expect.is_empty() { (200..300).contains(&status) } else { request.expect.contains(&status) };
    if !expected {
        let wanted = if request.expect.is_empty() { "2xx".to_owned() } else { format!("{:?}", request.expect) };
        return Err(io::Error::other(format!("{} {url} answered {status}, expected {wanted}", request.method)));
    }
    Ok(match request.checksum {
        HttpChecksum::Body => fold(u64::from(status), body.digest()),
        HttpChecksum::Status => u64::from(status),
    })
}

/// The error of a request, in the same words under every executor: the method, the URL, what went wrong.
fn error(request: &HttpRequest, url: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{} {url}: {e}", request.method))
}

/// The parts of the request's URL, or the error that names what is wrong with it. Its headers were
/// checked once, when the harness loaded the file (`http1::check_header`), not for every request.
fn parse<'a>(request: &HttpRequest, url: &'a str) -> io::Result<Url<'a>> {
    Url::parse(url).map_err(|e| error(request, url, e))
}

/// Where a request goes: its URL, the URL's parts (as ranges of it) and the server's addresses. A URL that
/// names no task is the same for every request: a worker or a run finds its target once ([`Known`]) and
/// keeps it; one that does costs its text and this, as its parse did before.
#[derive(Debug)]
struct Target {
    text: String,
    parts: Parts,
    addresses: Addresses,
}

/// The parts of a URL as ranges of its text.
#[derive(Debug)]
struct Parts {
    authority: std::ops::Range<usize>,
    host: std::ops::Range<usize>,
    port: u16,
    /// `None`: the URL has no path, and the request's is `/`.
    path: Option<std::ops::Range<usize>>,
}

impl Parts {
    /// The parts of `text`, parsed as `url`: [`Url::parse`] borrows each from its input (but the `/` of a
    /// URL without a path).
    fn of(text: &str, url: &Url<'_>) -> Self {
        let within = |part: &str| {
            let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            (start + part.len() <= text.len()).then_some(start..start + part.len())
        };
        let (Some(authority), Some(host)) = (within(url.authority), within(url.host)) else {
            unreachable!("Url::parse borrows the authority and the host from the URL")
        };
        Self { authority, host, port: url.port, path: within(url.target) }
    }
}

impl Target {
    fn new(text: String, parts: Parts, addresses: Addresses) -> Arc<Self> {
        Arc::new(Self { text, parts, addresses })
    }

    fn url(&self) -> Url<'_> {
        let Parts { authority, host, port, path } = &self.parts;
        let target = path.clone().map_or("/", |path| &self.text[path]);
        Url { authority: &self.text[authority.clone()], host: &self.text[host.clone()], port: *port, target }
    }
}

/// What a worker or a run knows of the servers its steps name: the targets of the URLs that name no task,
/// and the names looked up (those URLs that do name a task look their host up here).
#[derive(Debug, Default)]
struct Known {
    targets: Vec<Arc<Target>>,
    names: Names,
}

impl Known {
    /// The target of `request`'s URL, when it was found before (only a URL that names no task is kept).
    fn target(&self, request: &HttpRequest) -> Option<Arc<Target>> {
        self.targets.iter().find(|target| target.text == request.url).cloned()
    }

    /// Keeps `target` for the next request, when its URL names no task.
    fn keep(&mut self, request: &HttpRequest, target: &Arc<Target>) {
        if !request.url.contains("${task}") {
            self.targets.push(Arc::clone(target));
        }
    }
}

/// The addresses of a server: an IP address as written, or a name looked up once per run or worker.
#[derive(Debug, Clone)]
enum Addresses {
    One(SocketAddr),
    Many(std::sync::Arc<[SocketAddr]>),
}

impl Addresses {
    fn as_slice(&self) -> &[SocketAddr] {
        match self {
            Addresses::One(address) => std::slice::from_ref(address),
            Addresses::Many(addresses) => addresses,
        }
    }
}

/// The names a worker or a run has looked up: (host, port, addresses).
type Names = Vec<(String, u16, std::sync::Arc<[SocketAddr]>)>;

fn looked_up(names: &Names, url: &Url<'_>) -> Option<Addresses> {
    names.iter().find(|(host, port, _)| host == url.host && *port == url.port).map(|(.., a)| Addresses::Many(a.clone()))
}

fn remember(names: &mut Names, url: &Url<'_>, found: Vec<SocketAddr>) -> io::Result<Addresses> {
    if found.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no address for {}", url.host)));
    }
    let found: std::sync::Arc<[SocketAddr]> = found.into();
    names.push((url.host.to_owned(), url.port, found.clone()));
    Ok(Addresses::Many(found))
}

/// Whether a request that met a reused connection closed by the server, before any of an answer came
/// back, goes again over a new one: when its method is idempotent, as a client with a pool of its own
/// sends it again (a request of another method checked the connection before it was sent: [`alive_for`]).
fn again(request: &HttpRequest, reused: bool, failure: &http1::Failure) -> bool {
    reused && failure.unanswered && http1::idempotent(&request.method)
}

/// Whether an idle connection may take `request`: any may take a request that can be sent twice ([`again`]);
/// another needs the connection still open.
fn alive_for(request: &HttpRequest, socket: &impl std::os::fd::AsRawFd) -> bool {
    http1::idempotent(&request.method) || open(socket)
}

/// Whether an idle connection's socket is still open as far as this side knows: no end and no bytes
/// from the server are waiting on it.
fn open(socket: &impl std::os::fd::AsRawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local, on a socket the caller holds open.
    let n = unsafe { libc::recv(socket.as_raw_fd(), (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// A worker's connections, one per server its steps talk to, what it knows of the servers, and its
/// answers' hash.
#[derive(Debug, Default)]
pub(super) struct Worker {
    connections: Vec<http1::Blocking>,
    known: Known,
    hash: Option<BodyHash>,
}

impl Worker {
    /// Where `request` of task `task` goes.
    fn target(&mut self, request: &HttpRequest, task: u64) -> io::Result<Arc<Target>> {
        if let Some(target) = self.known.target(request) {
            return Ok(target);
        }
        let text = url(request, task);
        let url = parse(request, &text)?;
        let addresses = self.addresses(&url).map_err(|e| error(request, &text, e))?;
        let parts = Parts::of(&text, &url);
        let target = Target::new(text.into_owned(), parts, addresses);
        self.known.keep(request, &target);
        Ok(target)
    }

    fn addresses(&mut self, url: &Url<'_>) -> io::Result<Addresses> {
        if let Some(address) = url.address() {
            return Ok(Addresses::One(address));
        }
        if let Some(found) = looked_up(&self.known.names, url) {
            return Ok(found);
        }
        let found = std::net::ToSocketAddrs::to_socket_addrs(&(url.host, url.port))?.collect();
        remember(&mut self.known.names, url, found)
    }

    /// The worker's idle connection to one of `addresses`, when `connect` reuses them and it has one.
    fn take(&mut self, request: &HttpRequest, addresses: &[SocketAddr]) -> Option<http1::Blocking> {
        if request.connect != Connect::Reuse {
            return None;
        }
        let at = self.connections.iter().position(|c| addresses.contains(&c.address))?;
        let connection = self.connections.swap_remove(at);
        alive_for(request, connection.socket()).then_some(connection)
    }
}

/// The `http` step of task `task`, blocking the calling thread.
pub(super) fn blocking(prepared: &Prepared, worker: &mut Worker, request: &HttpRequest, task: u64) -> io::Result<u64> {
    let target = worker.target(request, task)?;
    let text = target.text.as_str();
    let addresses = target.addresses.as_slice();
    let reused = worker.take(request, addresses);
    let is_reused = reused.is_some();
    let mut connection = match reused {
        Some(connection) => connection,
        None => http1::Blocking::connect(addresses).map_err(|e| error(request, text, e))?,
    };
    let url = target.url();
    http1::write_request(&mut connection.request, &request.method, &url, &request.headers, body(request, prepared));
    let head = request.method == "HEAD";
    let hash = worker.hash.get_or_insert_with(BodyHash::new).restart();
    let status = match connection.exchange(head, hash) {
        Ok(status) => status,
        Err(failure) if again(request, is_reused, &failure) => {
            let sent = std::mem::take(&mut connection.request);
            connection = http1::Blocking::connect(addresses).map_err(|e| error(request, text, e))?;
            connection.request = sent;
            let hash = hash.restart();
            connection.exchange(head, hash).map_err(|f| error(request, text, f.error))?
        }
        Err(failure) => return Err(error(request, text, failure.error)),
    };
    let value = value(request, text, status.code, hash);
    if request.connect == Connect::Reuse && status.keep_alive {
        worker.connections.push(connection);
    }
    value
}

/// The connections of a run's `http` steps on tokio: the idle connections of the task slots, a pool that
/// grows to the tasks in flight and no further, and what the run knows of the servers.
#[cfg(feature = "tokio")]
#[derive(Debug, Default)]
pub(super) struct Async {
    idle: super::Idle<Held>,
    known: std::sync::Mutex<Known>,
}

/// A connection on tokio, with the hash its answers' bodies go through.
#[cfg(feature = "tokio")]
#[derive(Debug)]
struct Held {
    connection: http1::Async,
    hash: BodyHash,
}

#[cfg(feature = "tokio")]
impl Held {
    async fn connect(addresses: &[SocketAddr]) -> io::Result<Self> {
        Ok(Self { connection: http1::Async::connect(addresses).await?, hash: BodyHash::new() })
    }
}

#[cfg(feature = "tokio")]
impl Async {
    /// Closes the idle connections: before the runtime that drives them goes.
    pub(super) fn close(&self) {
        self.idle.close();
    }

    /// Where `request` of task `task` goes.
    async fn target(&self, request: &HttpRequest, task: u64) -> io::Result<Arc<Target>> {
        if let Some(target) = crate::workload::lock(&self.known).target(request) {
            return Ok(target);
        }
        let text = url(request, task);
        let url = parse(request, &text)?;
        let addresses = self.addresses(&url).await.map_err(|e| error(request, &text, e))?;
        let parts = Parts::of(&text, &url);
        let target = Target::new(text.into_owned(), parts, addresses);
        crate::workload::lock(&self.known).keep(request, &target);
        Ok(target)
    }

    async fn addresses(&self, url: &Url<'_>) -> io::Result<Addresses> {
        if let Some(address) = url.address() {
            return Ok(Addresses::One(address));
        }
        if let Some(found) = looked_up(&crate::workload::lock(&self.known).names, url) {
            return Ok(found);
        }
        let found = tokio::net::lookup_host((url.host, url.port)).await?.collect();
        remember(&mut crate::workload::lock(&self.known).names, url, found)
    }
}

/// The `http` step of task `task` as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(
    prepared: &Prepared,
    state: &Async,
    request: &HttpRequest,
    task: u64,
) -> io::Result<u64> {
    let target = state.target(request, task).await?;
    let text = target.text.as_str();
    let addresses = target.addresses.as_slice();
    let reused = state.idle.take_where(request.connect, |held| {
        addresses.contains(&held.connection.address) && alive_for(request, held.connection.socket())
    });
    let is_reused = reused.is_some();
    let mut held = match reused {
        Some(held) => held,
        None => Held::connect(addresses).await.map_err(|e| error(request, text, e))?,
    };
    let url = target.url();
    let Held { connection, hash } = &mut held;
    http1::write_request(&mut connection.request, &request.method, &url, &request.headers, body(request, prepared));
    let head_only = request.method == "HEAD";
    hash.restart();
    let status = match connection.exchange(head_only, hash).await {
        Ok(status) => status,
        Err(failure) if again(request, is_reused, &failure) => {
            let sent = std::mem::take(&mut connection.request);
            *connection = http1::Async::connect(addresses).await.map_err(|e| error(request, text, e))?;
            connection.request = sent;
            hash.restart();
            connection.exchange(head_only, hash).await.map_err(|f| error(request, text, f.error))?
        }
        Err(failure) => return Err(error(request, text, failure.error)),
    };
    let value = value(request, text, status.code, &held.hash);
    if status.keep_alive {
        state.idle.give(request.connect, held);
    }
    value
}

/// A round trip to the server the URL names.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Service };
/// Not known: a server's body may hold the time, a counter, an id.
pub(super) const DETERMINISTIC: bool = false;

/// `http METHOD URL`, and ` per_request` when it opens a connection for each.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, request: &HttpRequest) -> std::fmt::Result {
    write!(f, "http {} {}{}", request.method, request.url, super::connect_suffix(request.connect))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::hash_bytes;
    use crate::http1::Sink as _;

    /// A body hashes to `hash_bytes` of its bytes whether it came whole or in pieces, and a restarted hash
    /// forgets the body before, whichever way that one came.
    #[test]
    fn a_body_hashes_the_same_whole_or_in_pieces() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = BodyHash::new();
        whole.whole(&body);
        let mut pieces = BodyHash::new();
        for piece in body.chunks(333) {
            pieces.piece(piece);
        }
        assert_eq!(whole.digest(), hash_bytes(&body));
        assert_eq!(pieces.digest(), hash_bytes(&body));
        pieces.restart().whole(b"next");
        assert_eq!(pieces.digest(), hash_bytes(b"next"));
        whole.restart().piece(b"ne");
        whole.piece(b"xt");
        assert_eq!(whole.digest(), hash_bytes(b"next"));
        assert_eq!(whole.restart().digest(), hash_bytes(b""));
    }
}
