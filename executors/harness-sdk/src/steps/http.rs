//! The `http` step: one HTTP/1.1 request, keep-alive by default: a connection per task slot, kept for its
//! next request. Blocking with `ureq` (an agent per worker thread or process), without blocking with
//! `hyper`'s HTTP/1.1 connections (one per task in flight, from a pool of idle ones that grows to the tasks
//! in flight and no further). `connect = "per_request"` opens a connection for each request. The answer's status must be one of
//! `expect` (any 2xx when empty); the step yields the status and the body's hash, or the status alone. The
//! answer's body is hashed as it arrives, never held whole: a body of gigabytes costs the run no memory.

use std::io;

use super::{Cost, Work};
use crate::checksum::fold;
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

/// The hash of an answer's body, taken as its bytes arrive: `hash_bytes` of the whole body.
struct BodyHash(xxhash_rust::xxh3::Xxh3);

impl BodyHash {
    fn new() -> Self {
        Self(xxhash_rust::xxh3::Xxh3::with_seed(0))
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
        HttpChecksum::Body => fold(u64::from(status), body.0.digest()),
        HttpChecksum::Status => u64::from(status),
    })
}

fn error(request: &HttpRequest, url: &str, e: impl std::error::Error) -> io::Error {
    io::Error::other(format!("{} {url}: {}", request.method, cause(&e)))
}

/// An error of the blocking client: an I/O error in its own words, as the non-blocking one gives it.
fn blocking_error(request: &HttpRequest, url: &str, e: ureq::Error) -> io::Error {
    match e {
        ureq::Error::Io(io) => error(request, url, io),
        other => error(request, url, other),
    }
}

/// What went wrong, in the words of the error at the bottom of `e`'s chain of sources: the clients wrap
/// the same cause in words of their own ("client error (Connect)"), and every executor should say the same
/// thing of the same failure ("Connection refused (os error 111)").
fn cause(e: &dyn std::error::Error) -> String {
    let mut deepest = e;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    deepest.to_string()
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build())
}

/// A worker's agent, which keeps its connections.
#[derive(Debug, Default)]
pub(super) struct Worker {
    agent: Option<ureq::Agent>,
}

/// The `http` step of task `task`, blocking the calling thread.
pub(super) fn blocking(prepared: &Prepared, worker: &mut Worker, request: &HttpRequest, task: u64) -> io::Result<u64> {
    let url = url(request, task);
    let fresh;
    let agent = if request.connect == Connect::PerRequest {
        fresh = agent();
        &fresh
    } else {
        worker.agent.get_or_insert_with(agent)
    };
    let mut builder = ureq::http::Request::builder().method(request.method.as_str()).uri(&*url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let sent = builder.body(body(request, prepared)).map_err(|e| error(request, &url, e))?;
    let mut answer = agent.run(sent).map_err(|e| blocking_error(request, &url, e))?;
    let status = answer.status().as_u16();
    let mut hash = BodyHash::new();
    let mut reader = answer.body_mut().with_config().limit(u64::MAX).reader();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match io::Read::read(&mut reader, &mut chunk) {
            Ok(0) => break,
            Ok(n) => hash.0.update(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(error(request, &url, e)),
        }
    }
    value(request, &url, status, &hash)
}

/// The connections of a run's `http` steps on tokio: the idle connections of the task slots, a pool that
/// grows to the tasks in flight and no further (a client's own pool may open more while it waits for one
/// to come back, and then keep them).
#[cfg(feature = "tokio")]
pub(super) type Async = super::Idle<Slot>;

/// One task slot's HTTP/1.1 connection on tokio. The task that holds it drives it too, while it waits for
/// the answer and reads its body: no task of the connection's own stands between the task and its socket.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(super) struct Slot {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    connection: Connection,
}

#[cfg(feature = "tokio")]
impl Slot {
    /// A connection to the server of `uri`.
    async fn open(uri: &hyper::Uri) -> io::Result<Self> {
        let host = uri.host().ok_or_else(|| io::Error::other("the URL has no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port)).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        Ok(Slot { sender, connection })
    }
}

#[cfg(feature = "tokio")]
type Connection = hyper::client::conn::http1::Connection<
    hyper_util::rt::TokioIo<tokio::net::TcpStream>,
    http_body_util::Full<bytes::Bytes>,
>;

#[cfg(feature = "tokio")]
impl Slot {
    /// Whether an idle connection can take a request: what the server sent since its last answer (its
    /// close, after its keep-alive timeout) is read first.
    async fn alive(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            if std::pin::Pin::new(&mut self.connection).poll(cx).is_ready() {
                return std::task::Poll::Ready(false);
            }
            std::task::Poll::Ready(self.sender.is_ready())
        })
        .await
    }
}

/// Waits for `work`, driving `connection` meanwhile; an error when the connection ends first.
#[cfg(feature = "tokio")]
async fn drive<T>(connection: &mut Connection, work: impl std::future::Future<Output = T>) -> io::Result<T> {
    use std::task::Poll;
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = work.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match std::pin::Pin::new(&mut *connection).poll(cx) {
            Poll::Pending => Poll::Pending,
            // What the connection did last may have finished the work.
            Poll::Ready(Ok(())) => match work.as_mut().poll(cx) {
                Poll::Ready(value) => Poll::Ready(Ok(value)),
                Poll::Pending => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before it answered",
                ))),
            },
            Poll::Ready(Err(e)) => Poll::Ready(Err(io::Error::other(e))),
        }
    })
    .await
}

/// The `http` step of task `task` as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(
    prepared: &Prepared,
    state: &Async,
    request: &HttpRequest,
    task: u64,
) -> io::Result<u64> {
    use http_body_util::BodyExt as _;
    let url = url(request, task);
    let uri: hyper::Uri = url.parse().map_err(|e| error(request, &url, e))?;
    // The request names its path alone (origin form) and its server in `Host`, as a client's pool would
    // write it; the parts are moved, not parsed again.
    let mut parts = uri.clone().into_parts();
    let authority = parts.authority.take();
    parts.scheme = None;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static("/"));
    }
    let target = hyper::Uri::from_parts(parts).map_err(|e| error(request, &url, e))?;
    let mut builder = hyper::Request::builder().method(request.method.as_str()).uri(target);
    if !request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        let host = authority.as_ref().map_or("", hyper::http::uri::Authority::as_str);
        builder = builder.header(hyper::header::HOST, host);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = bytes::Bytes::copy_from_slice(body(request, prepared));
    let sent = builder.body(http_body_util::Full::new(body)).map_err(|e| error(request, &url, e))?;
    // An idle connection the server has closed since (after its last answer, or the most it serves) is
    // left for a new one, as a client with a pool of its own does.
    let mut slot = None;
    while let Some(mut idle) = state.take(request.connect) {
        if idle.alive().await {
            slot = Some(idle);
            break;
        }
    }
    let reused = slot.is_some();
    let mut slot = match slot {
        Some(slot) => slot,
        None => Slot::open(&uri).await.map_err(|e| error(request, &url, e))?,
    };
    let sending = slot.sender.try_send_request(sent);
    let answer = match drive(&mut slot.connection, sending).await.map_err(|e| error(request, &url, e))? {
        Ok(answer) => answer,
        Err(mut unsent) => match unsent.take_message() {
            // The server closed the idle connection as the request was handed to it, before any of it was
            // written: it goes over a new connection, as a client with a pool of its own sends it again.
            Some(again) if reused => {
                slot = Slot::open(&uri).await.map_err(|e| error(request, &url, e))?;
                let sending = slot.sender.send_request(again);
                drive(&mut slot.connection, sending)
                    .await
                    .map_err(|e| error(request, &url, e))?
                    .map_err(|e| error(request, &url, e))?
            }
            _ => return Err(error(request, &url, unsent.into_error())),
        },
    };
    let status = answer.status().as_u16();
    let mut body = answer.into_body();
    let mut hash = BodyHash::new();
    while let Some(frame) = drive(&mut slot.connection, body.frame()).await.map_err(|e| error(request, &url, e))? {
        if let Some(data) = frame.map_err(|e| error(request, &url, e))?.data_ref() {
            hash.0.update(data);
        }
    }
    state.give(request.connect, slot);
    value(request, &url, status, &hash)
}

/// A round trip to the server the URL names.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Service };
/// Not known: a server's body may hold the time, a counter, an id.
pub(super) const DETERMINISTIC: bool = false;

/// `http METHOD URL`, and ` per_request` when it opens a connection for each.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, request: &HttpRequest) -> std::fmt::Result {
    write!(f, "http {} {}{}", request.method, request.url, super::connect_suffix(request.connect))
}
