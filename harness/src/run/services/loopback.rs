//! The harness's own loopback server, `harness __loopback`: the service `loopback`, started like the
//! experiment's own services (a process group, `PR_SET_PDEATHSIG`, a cgroup, a log) when some step goes to
//! it, so that what it spends per run is measured like theirs.
//!
//! One port speaks two protocols, told apart by a connection's first eight bytes. A `net` request starts
//! with its length, a little-endian u64 below 2^40 (the largest size a file may write), so its last three
//! bytes are zero; an HTTP/1.1 request starts with a method and a path, eight printable bytes. `net`
//! connections are served by [`serve_net`] (the wire format of [`net`]), HTTP ones by hyper, keep-alive, at
//! `/wait/DURATION/bytes/SIZE`. Both answer with the same body bytes ([`net::fill_body`]), streamed in
//! chunks, and refuse what asks more than the experiment's steps declare ([`LoopbackBounds`]).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use harness_sdk::workload::net;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::experiment::{LoopbackBounds, loopback_path};
use crate::sys;

/// Bodies are read and written in pieces of this size, never whole.
const CHUNK: usize = 64 * 1024;

/// `harness __loopback`: serves 127.0.0.1:`port` until it is killed (SIGTERM or SIGKILL from the harness,
/// or `PR_SET_PDEATHSIG` when the harness dies). Returns an exit code when it cannot listen.
pub(crate) fn loopback_main(port: u16, bounds: LoopbackBounds) -> i32 {
    match listen(port, bounds.connections) {
        Ok(listener) => {
            // The log says where it listens; a probe's connection is its first.
            println!("the loopback server listens on 127.0.0.1:{port}");
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("the loopback server cannot start its event loop: {e}");
                    return 1;
                }
            };
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, bounds).await,
                    Err(e) => eprintln!("the loopback server cannot listen: {e}"),
                }
            });
            1
        }
        Err(e) => {
            eprintln!("the loopback server cannot listen on 127.0.0.1:{port}: {e}");
            1
        }
    }
}

/// A listener on 127.0.0.1:`port` whose accept queue holds `connections`.
fn listen(port: u16, connections: u64) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    // The standard library listens with a backlog of 128. Connections beyond it are dropped and their
    // clients retry after a second, which would be measured as a second of waiting: listen again with
    // room for every connection a run can open at once (the kernel caps it at `somaxconn`, and the
    // harness warns when it does).
    let backlog = connections.clamp(128, i32::MAX as u64) as i32;
    // `listener` is bound and listening already: calling listen again only changes the backlog.
    sys::listen(&listener, backlog)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn accept_loop(listener: tokio::net::TcpListener, bounds: LoopbackBounds) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, bounds));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// Serves one connection in the protocol its first eight bytes speak.
async fn serve(mut stream: tokio::net::TcpStream, bounds: LoopbackBounds) {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 8];
    if stream.read_exact(&mut first).await.is_err() {
        return;
    }
    if first.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
        let io = hyper_util::rt::TokioIo::new(Prefixed { prefix: first, read: 0, stream });
        let service = hyper::service::service_fn(move |request| answer(request, bounds));
        let _ = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .header_read_timeout(None)
            .serve_connection(io, service)
            .await;
    } else {
        serve_net(stream, first, bounds).await;
    }
}

/// Answers `net` requests on one connection until the client closes it: after the request's delay, an
/// answer header and the response body. A request that asks more than `bounds` allow closes the
/// connection unanswered. `first` is the first eight bytes of the first request's header, already read.
async fn serve_net(mut stream: tokio::net::TcpStream, first: [u8; 8], bounds: LoopbackBounds) {
    let mut header = [0u8; net::HEADER_LEN];
    header[..8].copy_from_slice(&first);
    let mut read = 8;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        if stream.read_exact(&mut header[read..]).await.is_err() {
            return;
        }
        read = 0;
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

/// The answer to one HTTP request: after the wait its path asks for, `200` and the bytes it asks for; `404`
/// for another path, `403` beyond the bounds, `413` for a body larger than any step sends.
async fn answer(request: Request<Incoming>, bounds: LoopbackBounds) -> Result<Response<Answer>, Infallible> {
    let asked = request.uri().path_and_query().map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let (wait, bytes) = match loopback_path(asked) {
        Ok(asked) => asked,
        Err(why) => return Ok(refusal(StatusCode::NOT_FOUND, why)),
    };
    if !bounds.allow(0, bytes, wait) {
        return Ok(refusal(
            StatusCode::FORBIDDEN,
            format!(
                "{asked} asks more than the experiment's steps: at most {} bytes after at most {}ns",
                bounds.response, bounds.delay_nanos
            ),
        ));
    }
    // The body is read and dropped piece by piece, up to what the steps send.
    let mut body = request.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Ok(refusal(StatusCode::BAD_REQUEST, "the body was cut".to_owned())) };
        received += frame.data_ref().map_or(0, |d| d.len() as u64);
        if received > bounds.request {
            let mut refused = refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than the experiment's steps send, {} bytes", bounds.request),
            );
            // The rest of the body is not read: the connection cannot serve another request.
            refused.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            return Ok(refused);
        }
    }
    if wait > 0 {
        harness_sdk::timer::sleep(Duration::from_nanos(wait)).await;
    }
    Ok(Response::new(Answer::Stream { sent: 0, len: bytes }))
}

fn refusal(status: StatusCode, why: String) -> Response<Answer> {
    let mut response = Response::new(Answer::Text(Some(Bytes::from(why))));
    *response.status_mut() = status;
    response
}

/// An HTTP answer's body: a message, or the body bytes streamed in chunks.
enum Answer {
    Text(Option<Bytes>),
    Stream { sent: u64, len: u64 },
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            Answer::Text(text) => text.take().map(Frame::data),
            Answer::Stream { sent, len } => (*sent < *len).then(|| {
                let mut chunk = vec![0u8; (*len - *sent).min(CHUNK as u64) as usize];
                net::fill_body(*sent, &mut chunk);
                *sent += chunk.len() as u64;
                Frame::data(Bytes::from(chunk))
            }),
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Answer::Text(text) => text.is_none(),
            Answer::Stream { sent, len } => sent >= len,
        }
    }

    fn size_hint(&self) -> SizeHint {
        // Exact, so the answer carries a `Content-Length`.
        SizeHint::with_exact(match self {
            Answer::Text(text) => text.as_ref().map_or(0, |t| t.len() as u64),
            Answer::Stream { sent, len } => len - sent,
        })
    }
}

/// A connection whose first bytes were read already: they are read again first.
struct Prefixed {
    prefix: [u8; 8],
    read: usize,
    stream: tokio::net::TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read < this.prefix.len() {
            let n = (this.prefix.len() - this.read).min(buf.remaining());
            buf.put_slice(&this.prefix[this.read..this.read + n]);
            this.read += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::SocketAddr;
    use std::time::Instant;

    use super::*;

    /// A server on a thread of its own, for requests of up to 1 MiB each way and a delay of up to 50ms.
    fn server() -> SocketAddr {
        let bounds = LoopbackBounds { request: 1 << 20, response: 1 << 20, delay_nanos: 50_000_000, connections: 8 };
        let listener = listen(0, bounds.connections).unwrap();
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

    /// Sends one HTTP/1.1 request on `stream` and reads its answer: (status, body).
    fn http(stream: &mut BufReader<std::net::TcpStream>, request: &str) -> (u16, Vec<u8>) {
        stream.get_mut().write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            stream.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).unwrap();
        (status, body)
    }

    #[test]
    fn http_requests_are_answered_on_one_kept_connection_after_their_wait() {
        let mut stream = BufReader::new(std::net::TcpStream::connect(server()).unwrap());
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let start = Instant::now();
        let (status, body) = http(&mut stream, &get("/wait/20ms/bytes/200000?task=7"));
        assert!(start.elapsed() >= Duration::from_millis(20), "answered after {:?}", start.elapsed());
        assert_eq!((status, body), (200, net::body(200_000)));
        // The same connection serves the next request, a POST with a body.
        let post = "POST /wait/0s/bytes/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(http(&mut stream, post), (200, net::body(3)));
        let (status, why) = http(&mut stream, &get("/items/1"));
        assert_eq!(status, 404);
        assert!(String::from_utf8(why).unwrap().contains("/wait/DURATION/bytes/SIZE"));
        for beyond in ["/wait/51ms/bytes/0", "/wait/0s/bytes/1048577"] {
            assert_eq!(http(&mut stream, &get(beyond)).0, 403, "{beyond}");
        }
        // A net request on another connection of the same port.
        let mut net_stream = std::net::TcpStream::connect(stream.get_ref().peer_addr().unwrap()).unwrap();
        net_stream.write_all(&net::request(0, 4, 0)).unwrap();
        let mut answer = [0u8; 12];
        net_stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer[8..], net::body(4).as_slice());
    }

    #[test]
    fn an_http_body_larger_than_the_steps_send_is_refused() {
        let mut stream = BufReader::new(std::net::TcpStream::connect(server()).unwrap());
        let too_large = (1 << 20) + 1;
        let request = format!("POST /wait/0s/bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: {too_large}\r\n\r\n");
        stream.get_mut().write_all(request.as_bytes()).unwrap();
        // The whole body, so that the server has read every byte when it answers and closes.
        stream.get_mut().write_all(&vec![b'x'; too_large]).unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 413 "), "{line}");
    }
}
