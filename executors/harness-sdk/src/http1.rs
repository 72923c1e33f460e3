//! The HTTP/1.1 client of `http` steps, as lean per request as a load generator's (wrk's): one request at a
//! time per connection, keep-alive, plain `http://`.
//!
//! A request is written into the connection's own buffer and sent with one write; the answer is read into
//! the connection's other buffer, its head parsed in place by `httparse` (the parser hyper uses), and its
//! body framed by `Content-Length`, chunks or the end of the connection and handed to the caller as it
//! arrives, never held whole. Nothing is allocated per request once a connection has served its first.
//! The same framing ([`Answer`]) serves a blocking socket ([`Blocking`]) and a tokio one ([`Async`]).
//!
//! What it does not do, as wrk does not: TLS, redirects (a 3xx is the answer), HTTP/2, proxies, cookies,
//! compression, `Expect: 100-continue`.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// The most an answer's head may take, status line and headers: nginx's and Apache's limit on a request's.
const MAX_HEAD: usize = 64 * 1024;
/// The read buffer's size until a head needs more: the size of a read.
const READ_SIZE: usize = 16 * 1024;
/// The most headers an answer may have.
const MAX_HEADERS: usize = 100;

/// The parts of an `http://` URL a request needs, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    /// `host[:port]`, as the `Host` header names it.
    pub authority: &'a str,
    /// The host to connect to: a name, or an address (an IPv6 one without its brackets).
    pub host: &'a str,
    pub port: u16,
    /// The path and query as written, `/` when the URL has neither (a query alone is sent after a `/`).
    pub target: &'a str,
}

impl<'a> Url<'a> {
    /// The parts of `url`, an `http://` URL; what is wrong with it otherwise.
    pub fn parse(url: &'a str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or("the URL does not begin with http://")?;
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.is_empty() {
            return Err("the URL has no host".to_owned());
        }
        if authority.contains('@') {
            return Err("the URL names a user (`user@host`), which an http step does not send".to_owned());
        }
        // Bytes, not characters: this runs for every request, and only ASCII's spaces and controls break
        // a request line.
        if let Some(b) = url.bytes().find(|&b| b <= b' ' || b == 0x7f) {
            return Err(format!("the URL holds {:?}, which a request line cannot; percent-encode it", char::from(b)));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').ok_or("the URL's IPv6 address has no closing `]`")?;
                match after {
                    "" => (host, None),
                    _ => (host, Some(after.strip_prefix(':').ok_or("the URL has text after its IPv6 address")?)),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            None | Some("") => 80,
            Some(port) => {
                port.parse().map_err(|_| format!("the URL's port `{port}` is not a number from 0 to 65535"))?
            }
        };
        let target = match target {
            "" => "/",
            t => t,
        };
        Ok(Url { authority, host, port, target })
    }

    /// The addresses to connect to when the host is an IP address: no lookup needed.
    pub fn address(&self) -> Option<SocketAddr> {
        self.host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Whether a request with `method` may be sent again when the server closed a reused connection before
/// answering it (RFC 9110, 9.2.2: the idempotent methods).
pub fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE")
}

/// Writes the request into `out` (emptied first): its line, `Host` (unless `headers` has one), `headers`,
/// `Content-Length` when it has a body or its method expects one (unless `headers` frames it), and the body.
pub fn write_request(out: &mut Vec<u8>, method: &str, url: &Url<'_>, headers: &[(String, String)], body: &[u8]) {
    out.clear();
    let slash = if url.target.starts_with('?') { "/" } else { "" };
    for part in [method, " ", slash, url.target, " HTTP/1.1\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !given("host") {
        for part in ["Host: ", url.authority, "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    for (name, value) in headers {
        for part in [name.as_str(), ": ", value.as_str(), "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    let framed = given("content-length") || given("transfer-encoding");
    if !framed && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH")) {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Appends `n` in decimal digits to `out`, with nothing made on the way.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// What is wrong with a header the user wrote, which would break the request: a name that is not a token,
/// a value with a line break or a NUL.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("the header name {name:?} is not a token (letters, digits and !#$%&'*+-.^_`|~)"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("the value of header `{name}` holds a line break or a NUL"));
    }
    Ok(())
}

/// A header's value as text, trimmed; empty when it is not UTF-8.
fn text(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or("").trim()
}

/// Bytes read from a connection and not yet taken: `bytes[start..end]`.
#[derive(Debug)]
struct Buffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    fn new() -> Self {
        Self { bytes: vec![0; READ_SIZE], start: 0, end: 0 }
    }

    fn available(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn take(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into, made by moving what is left to the front, or growing up to [`MAX_HEAD`] when what
    /// is left fills the buffer; `None` when it is full at that size.
    fn room(&mut self) -> Option<&mut [u8]> {
        if self.end == self.bytes.len() {
            if self.start > 0 {
                self.bytes.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.bytes.len() < MAX_HEAD {
                self.bytes.resize(MAX_HEAD, 0);
            } else {
                return None;
            }
        }
        Some(&mut self.bytes[self.end..])
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
    }
}

/// Where an answer's body goes as it arrives: in pieces, or whole when it came in one piece (a body framed by
/// its length that one read brought entire), which a hash takes in one pass instead of through its
/// streaming state. A closure takes both as pieces.
pub trait Sink {
    /// The next part of the body, in order.
    fn piece(&mut self, bytes: &[u8]);

    /// The whole body, at once; no piece comes before or after it.
    fn whole(&mut self, bytes: &[u8]) {
        self.piece(bytes);
    }
}

impl<F: FnMut(&[u8])> Sink for F {
    fn piece(&mut self, bytes: &[u8]) {
        self(bytes);
    }
}

/// How the rest of an answer's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// So many bytes more.
    Length(u64),
    /// A chunk's size line comes next.
    ChunkSize,
    /// So many bytes of the current chunk, then its line end.
    Chunk(u64),
    /// The line end after a chunk.
    ChunkEnd,
    /// Trailer lines, up to an empty one.
    Trailers,
    /// Up to the end of the connection.
    UntilClose,
}

/// Where an answer is: its head, its body, or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body(Body),
    Done,
}

/// The reading of one answer: its status, whether the connection may serve another request after it, and
/// its body handed to `sink` as it arrives.
#[derive(Debug)]
struct Answer {
    phase: Phase,
    status: u16,
    keep_alive: bool,
    /// The request was `HEAD`: the answer has no body, whatever its head says.
    head_request: bool,
    /// No byte of the body has gone to the sink yet.
    untouched: bool,
}

/// The answer's status, and whether the connection may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub keep_alive: bool,
}

impl Answer {
    fn new(head_request: bool) -> Self {
        Self { phase: Phase::Head, status: 0, keep_alive: true, head_request, untouched: true }
    }

    /// Takes what it can of `buffer`, body bytes going to `sink`; whether the answer is complete.
    fn advance(&mut self, buffer: &mut Buffer, sink: &mut impl Sink) -> Result<bool, String> {
        loop {
            match self.phase {
                Phase::Done => return Ok(true),
                Phase::Head => {
                    // Left uninitialized: the parser writes the headers it finds, where zeroing room for a
                    // hundred (3 KiB) for every answer showed in a profile of one connection's requests.
                    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
                    let mut response = httparse::Response::new(&mut []);
                    let config = httparse::ParserConfig::default();
                    let n = match config.parse_response_with_uninit_headers(
                        &mut response,
                        buffer.available(),
                        &mut headers,
                    ) {
                        Ok(httparse::Status::Complete(n)) => n,
                        Ok(httparse::Status::Partial) => return Ok(false),
                        Err(e) => return Err(format!("the server's answer is not HTTP/1.1 ({e})")),
                    };
                    let code = response.code.unwrap_or(0);
                    let body = self.head(&response)?;
                    buffer.take(n);
                    if (100..200).contains(&code) {
                        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                        continue;
                    }
                    self.status = code;
                    self.phase = body.map_or(Phase::Done, Phase::Body);
                }
                Phase::Body(Body::Length(0)) => self.phase = Phase::Done,
                Phase::Body(Body::Length(left) | Body::Chunk(left)) => {
                    let available = buffer.available();
                    if available.is_empty() {
                        return Ok(false);
                    }
                    let n = available.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let whole =
                        self.untouched && n as u64 == left && matches!(self.phase, Phase::Body(Body::Length(_)));
                    if whole {
                        sink.whole(&available[..n]);
                    } else {
                        sink.piece(&available[..n]);
                    }
                    self.untouched = false;
                    buffer.take(n);
                    let left = left - n as u64;
                    self.phase = match self.phase {
                        Phase::Body(Body::Length(_)) => Phase::Body(Body::Length(left)),
                        _ if left == 0 => Phase::Body(Body::ChunkEnd),
                        _ => Phase::Body(Body::Chunk(left)),
                    };
                }
                Phase::Body(Body::UntilClose) => {
                    let available = buffer.available();
                    if available.is_empty() {
                        return Ok(false);
                    }
                    sink.piece(available);
                    self.untouched = false;
                    let n = available.len();
                    buffer.take(n);
                }
                Phase::Body(Body::ChunkSize) => match httparse::parse_chunk_size(buffer.available()) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        buffer.take(n);
                        self.phase = Phase::Body(if size == 0 { Body::Trailers } else { Body::Chunk(size) });
                    }
                    Ok(httparse::Status::Partial) => return Ok(false),
                    Err(_) => return Err("the server's answer has a malformed chunk size".to_owned()),
                },
                Phase::Body(Body::ChunkEnd) => {
                    let available = buffer.available();
                    if available.len() < 2 {
                        return Ok(false);
                    }
                    if &available[..2] != b"\r\n" {
                        return Err("the server's answer has a chunk longer than its size".to_owned());
                    }
                    buffer.take(2);
                    self.phase = Phase::Body(Body::ChunkSize);
                }
                Phase::Body(Body::Trailers) => {
                    let available = buffer.available();
                    let Some(line) = available.windows(2).position(|w| w == b"\r\n") else {
                        return Ok(false);
                    };
                    buffer.take(line + 2);
                    if line == 0 {
                        self.phase = Phase::Done;
                    }
                }
            }
        }
    }

    /// Reads a head's framing and `Connection`: how its body comes, `None` when it has none.
    fn head(&mut self, response: &httparse::Response<'_, '_>) -> Result<Option<Body>, String> {
        let code = response.code.unwrap_or(0);
        if code == 101 {
            return Err("the server switched protocols (101), which an http step does not speak".to_owned());
        }
        // HTTP/1.0 closes after the answer unless it says otherwise; HTTP/1.1 keeps the connection unless it
        // says otherwise.
        let mut keep_alive = response.version == Some(1);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut encoded = false;
        for header in response.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let value = text(header.value);
                let n =
                    value.parse::<u64>().map_err(|_| format!("the server's answer has Content-Length {value:?}"))?;
                if length.is_some_and(|m| m != n) {
                    return Err("the server's answer has two different Content-Length headers".to_owned());
                }
                length = Some(n);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                let value = text(header.value);
                encoded = true;
                chunked = value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if header.name.eq_ignore_ascii_case("connection") {
                for token in text(header.value).split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                        keep_alive = true;
                    }
                }
            }
        }
        if (100..200).contains(&code) {
            return Ok(None);
        }
        self.keep_alive = keep_alive;
        if self.head_request || code == 204 || code == 304 {
            return Ok(None);
        }
        // RFC 9112, 6.3: chunked wins over a length; another coding runs to the end of the connection.
        Ok(Some(if chunked {
            Body::ChunkSize
        } else if encoded {
            self.keep_alive = false;
            Body::UntilClose
        } else if let Some(n) = length {
            Body::Length(n)
        } else {
            self.keep_alive = false;
            Body::UntilClose
        }))
    }

    /// The connection ended: the end of a body that runs to it, or an answer cut short.
    fn end(&mut self) -> Result<(), String> {
        match self.phase {
            Phase::Body(Body::UntilClose) | Phase::Done => {
                self.phase = Phase::Done;
                self.keep_alive = false;
                Ok(())
            }
            Phase::Head => Err("the server closed the connection before it answered".to_owned()),
            Phase::Body(_) => Err("the server closed the connection in the middle of its answer".to_owned()),
        }
    }

    fn status(&self) -> Status {
        Status { code: self.status, keep_alive: self.keep_alive }
    }
}

/// A failed exchange, and whether the server may not have seen the request: nothing of an answer came
/// back, so a request over a reused connection the server had closed can be sent again.
#[derive(Debug)]
pub struct Failure {
    pub error: io::Error,
    pub unanswered: bool,
}

/// One request's exchange on a connection, whatever its socket: the answer read so far, and whether any
/// of it came back. The socket's owner writes the request, then reads while [`Exchange::advance`] wants more.
struct Exchange {
    answer: Answer,
    received: bool,
}

impl Exchange {
    /// An exchange over a connection with `buffer`, which must hold nothing: bytes the server sent after
    /// its last answer are not an answer to this request (the connection is then left for a new one).
    fn new(head_request: bool, buffer: &Buffer) -> Result<Self, Failure> {
        let exchange = Self { answer: Answer::new(head_request), received: false };
        if !buffer.available().is_empty() {
            return Err(exchange.failed(protocol("the server sent bytes nobody asked for".to_owned())));
        }
        Ok(exchange)
    }

    fn failed(&self, error: io::Error) -> Failure {
        Failure { error, unanswered: !self.received && self.answer.phase == Phase::Head }
    }

    /// The answer, once what `buffer` holds completes it; `None` while it needs another read.
    fn advance(&mut self, buffer: &mut Buffer, sink: &mut impl Sink) -> Option<Result<Status, Failure>> {
        match self.answer.advance(buffer, sink) {
            Ok(true) => Some(Ok(self.answer.status())),
            Ok(false) => None,
            Err(e) => {
                self.received = true;
                Some(Err(self.failed(protocol(e))))
            }
        }
    }

    /// Room in `buffer` for the next read, or the failure of a head too long for it.
    fn room<'b>(&self, buffer: &'b mut Buffer) -> Result<&'b mut [u8], Failure> {
        buffer.room().ok_or_else(|| self.failed(head_too_long()))
    }

    /// What a read into [`Self::room`] gave: `None` to go on, or the end of the exchange.
    fn read(&mut self, buffer: &mut Buffer, read: io::Result<usize>) -> Option<Result<Status, Failure>> {
        match read {
            Ok(0) => Some(match self.answer.end() {
                Ok(()) => Ok(self.answer.status()),
                Err(e) => Err(self.failed(io::Error::new(io::ErrorKind::UnexpectedEof, e))),
            }),
            Ok(n) => {
                self.received = true;
                buffer.filled(n);
                None
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => Some(Err(self.failed(e))),
        }
    }
}

fn protocol(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text)
}

fn head_too_long() -> io::Error {
    protocol(format!("the server's answer has a head longer than {} KiB", MAX_HEAD / 1024))
}

/// A connection on a blocking socket.
#[derive(Debug)]
pub struct Blocking {
    stream: std::net::TcpStream,
    pub address: SocketAddr,
    read: Buffer,
    /// The request being sent, kept for the next.
    pub request: Vec<u8>,
}

impl Blocking {
    /// A connection to `addresses`, the first that accepts.
    pub fn connect(addresses: &[SocketAddr]) -> io::Result<Self> {
        let stream = std::net::TcpStream::connect(addresses)?;
        stream.set_nodelay(true)?;
        let address = stream.peer_addr()?;
        Ok(Self { stream, address, read: Buffer::new(), request: Vec::new() })
    }

    pub fn socket(&self) -> &std::net::TcpStream {
        &self.stream
    }

    /// Sends [`Self::request`] and reads the answer, its body to `sink`.
    pub fn exchange(&mut self, head_request: bool, sink: &mut impl Sink) -> Result<Status, Failure> {
        use io::{Read as _, Write as _};
        let mut exchange = Exchange::new(head_request, &self.read)?;
        if let Err(e) = self.stream.write_all(&self.request) {
            return Err(exchange.failed(e));
        }
        loop {
            if let Some(done) = exchange.advance(&mut self.read, sink) {
                return done;
            }
            let read = self.stream.read(exchange.room(&mut self.read)?);
            if let Some(done) = exchange.read(&mut self.read, read) {
                return done;
            }
        }
    }
}

/// A connection on a tokio socket, driven by the task that holds it.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct Async {
    stream: tokio::net::TcpStream,
    pub address: SocketAddr,
    read: Buffer,
    /// The request being sent, kept for the next.
    pub request: Vec<u8>,
}

#[cfg(feature = "tokio")]
impl Async {
    /// A connection to `addresses`, the first that accepts.
    pub async fn connect(addresses: &[SocketAddr]) -> io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addresses).await?;
        stream.set_nodelay(true)?;
        let address = stream.peer_addr()?;
        Ok(Self { stream, address, read: Buffer::new(), request: Vec::new() })
    }

    pub fn socket(&self) -> &tokio::net::TcpStream {
        &self.stream
    }

    /// Sends [`Self::request`] and reads the answer, its body to `sink`.
    pub async fn exchange(&mut self, head_request: bool, sink: &mut impl Sink) -> Result<Status, Failure> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut exchange = Exchange::new(head_request, &self.read)?;
        if let Err(e) = self.stream.write_all(&self.request).await {
            return Err(exchange.failed(e));
        }
        loop {
            if let Some(done) = exchange.advance(&mut self.read, sink) {
                return done;
            }
            let read = self.stream.read(exchange.room(&mut self.read)?).await;
            if let Some(done) = exchange.read(&mut self.read, read) {
                return done;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `wire` in pieces of `piece` bytes; the status, the body and the bytes left.
    fn read(wire: &[u8], piece: usize, head_request: bool) -> Result<(Status, Vec<u8>, usize), String> {
        let mut buffer = Buffer::new();
        let mut answer = Answer::new(head_request);
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            if answer.advance(&mut buffer, &mut |bytes: &[u8]| body.extend_from_slice(bytes))? {
                return Ok((answer.status(), body, wire.len() - fed + buffer.available().len()));
            }
            if fed == wire.len() {
                answer.end()?;
                return Ok((answer.status(), body, 0));
            }
            let room = buffer.room().ok_or("full")?;
            let n = piece.min(wire.len() - fed).min(room.len());
            room[..n].copy_from_slice(&wire[fed..fed + n]);
            buffer.filled(n);
            fed += n;
        }
    }

    /// Only a body framed by its length that is in the buffer entire when its first byte is taken goes to
    /// the sink whole; any other goes in pieces.
    #[test]
    fn a_body_that_arrives_entire_goes_to_the_sink_whole() {
        #[derive(Default)]
        struct Seen {
            pieces: Vec<Vec<u8>>,
            whole: Option<Vec<u8>>,
        }
        impl Sink for Seen {
            fn piece(&mut self, bytes: &[u8]) {
                self.pieces.push(bytes.to_vec());
            }
            fn whole(&mut self, bytes: &[u8]) {
                assert!(self.whole.is_none() && self.pieces.is_empty(), "a whole body after another piece");
                self.whole = Some(bytes.to_vec());
            }
        }
        let seen = |wire: &[u8], head_length: usize| {
            let mut buffer = Buffer::new();
            let mut answer = Answer::new(false);
            let mut seen = Seen::default();
            for part in [&wire[..head_length], &wire[head_length..]] {
                buffer.room().unwrap()[..part.len()].copy_from_slice(part);
                buffer.filled(part.len());
                if answer.advance(&mut buffer, &mut seen).unwrap() {
                    break;
                }
            }
            seen
        };
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let head = length.len() - 5;
        let entire = seen(length, length.len());
        assert_eq!((entire.whole.as_deref(), entire.pieces.len()), (Some(&b"hello"[..]), 0));
        // The head first, then the whole body in the next read: still whole.
        let after_head = seen(length, head);
        assert_eq!(after_head.whole.as_deref(), Some(&b"hello"[..]));
        // Part of the body with the head: pieces.
        let split = seen(length, head + 2);
        assert_eq!((split.whole, split.pieces), (None, vec![b"he".to_vec(), b"llo".to_vec()]));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let one_chunk = seen(chunked, chunked.len());
        assert_eq!((one_chunk.whole, one_chunk.pieces), (None, vec![b"hello".to_vec()]));
    }

    #[test]
    fn an_answer_is_framed_by_its_length_its_chunks_or_the_end_of_the_connection_in_any_pieces() {
        let cases: [(&[u8], bool, &[u8], bool); 6] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, b"hello", true),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nT: v\r\n\r\n",
                false,
                b"hello",
                true,
            ),
            (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", false, b"hello", false),
            (b"HTTP/1.0 200 OK\r\n\r\nhello", false, b"hello", false),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false, b"", true),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, b"", true),
        ];
        for (wire, head_request, body, keep_alive) in cases {
            for piece in [1, 2, 7, wire.len()] {
                let (status, got, left) = read(wire, piece, head_request).unwrap();
                assert_eq!(got, body, "{}", String::from_utf8_lossy(wire));
                assert_eq!(status.keep_alive, keep_alive, "{}", String::from_utf8_lossy(wire));
                assert_eq!(left, 0);
                assert_eq!(status.code, if wire.windows(3).any(|w| w == b"204") { 204 } else { 200 });
            }
        }
    }

    #[test]
    fn a_cut_or_malformed_answer_is_an_error_that_says_so() {
        let cut = read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", 3, false).unwrap_err();
        assert!(cut.contains("in the middle of its answer"), "{cut}");
        let none = read(b"", 3, false).unwrap_err();
        assert!(none.contains("before it answered"), "{none}");
        let garbage = read(b"SSH-2.0-OpenSSH\r\n\r\n", 3, false).unwrap_err();
        assert!(garbage.contains("not HTTP/1.1"), "{garbage}");
        let chunk = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 3, false).unwrap_err();
        assert!(chunk.contains("chunk size"), "{chunk}");
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend_from_slice(b"X-A: ");
        huge.resize(huge.len() + MAX_HEAD, b'a');
        assert_eq!(read(&huge, 4096, false).unwrap_err(), "full");
    }

    #[test]
    fn a_request_names_its_host_and_frames_its_body() {
        let url = Url::parse("http://[::1]:8080/a?b=1#frag").unwrap();
        assert_eq!((url.authority, url.host, url.port, url.target), ("[::1]:8080", "::1", 8080, "/a?b=1"));
        let url = Url::parse("http://example.com?q").unwrap();
        assert_eq!((url.host, url.port, url.target), ("example.com", 80, "?q"));
        let url = Url::parse("http://example.com").unwrap();
        assert_eq!(url.target, "/");
        assert!(Url::parse("http://a b/").is_err());
        assert!(Url::parse("http://u@h/").is_err());
        assert!(Url::parse("http://h:99999/").is_err());

        let url = Url::parse("http://127.0.0.1:80/x").unwrap();
        let mut out = Vec::new();
        write_request(&mut out, "POST", &url, &[("X-Key".into(), "v".into())], b"body");
        assert_eq!(out, b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:80\r\nX-Key: v\r\nContent-Length: 4\r\n\r\nbody");
        write_request(&mut out, "GET", &url, &[("host".into(), "other".into())], b"");
        assert_eq!(out, b"GET /x HTTP/1.1\r\nhost: other\r\n\r\n");
        write_request(&mut out, "GET", &Url::parse("http://h?q").unwrap(), &[], b"");
        assert_eq!(out, b"GET /?q HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(check_header("X-Key", "v").is_ok());
        assert!(check_header("X Key", "v").is_err());
        assert!(check_header("X-Key", "v\r\nEvil: 1").is_err());
    }
}
