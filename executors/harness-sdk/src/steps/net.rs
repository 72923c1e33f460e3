//! `net`: a TCP round trip to the harness's loopback server in the `net` wire format ([`crate::net`]):
//! send `request` bytes, the server waits `delay_nanos` and answers with `response` bytes. A connection is
//! kept for the next request (one per worker; on tokio, a pool of idle ones the tasks share) or, with
//! `connect = "per_request"`, opened for each. Yields the hash of the response body.

use std::io;
use std::net::TcpStream;

use super::{Cost, Wait, Work};
use crate::checksum::hash_bytes;
use crate::protocol::{Connect, RunRequest, Step};
use crate::units::{format_nanos, format_size};
use crate::workload::Prepared;

/// The loopback server's address, for the run.
#[derive(Debug)]
pub(super) struct Run {
    addr: Option<String>,
}

impl Run {
    pub(super) fn new(request: &RunRequest) -> io::Result<Self> {
        let addr = request.resources.net_addr.clone();
        if addr.is_none() && request.workload.steps.iter().any(|s| matches!(s, Step::Net { .. })) {
            return Err(super::missing("net", "net_addr"));
        }
        Ok(Self { addr })
    }
}

/// A worker's connection, kept for its next request, and the buffer of the answer.
#[derive(Debug, Default)]
pub(super) struct Worker {
    connection: Option<TcpStream>,
    scratch: Vec<u8>,
}

impl Prepared {
    /// The loopback server's address.
    pub fn net_addr(&self) -> &str {
        self.state.net.addr.as_deref().unwrap_or_default()
    }
}

/// The `net` step, blocking the calling thread.
pub(super) fn blocking(
    prepared: &Prepared,
    worker: &mut Worker,
    request: u64,
    response: u64,
    delay_nanos: u64,
    connect: Connect,
) -> io::Result<u64> {
    let mut stream = match worker.connection.take() {
        Some(stream) if connect == Connect::Reuse => stream,
        _ => {
            let addr = prepared.net_addr();
            let stream = TcpStream::connect(addr).map_err(|e| crate::net::connect_error(addr, &e))?;
            stream.set_nodelay(true)?;
            stream
        }
    };
    crate::net::round_trip_blocking(&mut stream, &mut worker.scratch, request, response, delay_nanos)?;
    if connect == Connect::Reuse {
        worker.connection = Some(stream);
    }
    Ok(hash_bytes(&worker.scratch))
}

/// The idle connections of a run on tokio.
#[cfg(feature = "tokio")]
pub(super) type Async = super::Idle<tokio::net::TcpStream>;

/// The `net` step as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(
    prepared: &Prepared,
    pool: &Async,
    request: u64,
    response: u64,
    delay_nanos: u64,
    connect: Connect,
) -> io::Result<u64> {
    let mut stream = if let Some(stream) = pool.take(connect) {
        stream
    } else {
        let addr = prepared.net_addr();
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| crate::net::connect_error(addr, &e))?;
        stream.set_nodelay(true)?;
        stream
    };
    let mut body = Vec::new();
    crate::net::round_trip_async(&mut stream, &mut body, request, response, delay_nanos).await?;
    pool.give(connect, stream);
    Ok(hash_bytes(&body))
}

/// The server's delay, and CPU work on the client's side of the round trip.
pub(super) fn cost(delay_nanos: u64) -> Cost {
    Cost { wait: Some(Wait::Server { nanos: delay_nanos }), work: Work::Cpu }
}

/// The loopback server answers the bytes asked for, the same on every run.
pub(super) const DETERMINISTIC: bool = true;

/// `net 64B/1KiB delay 1ms`, and ` per_request` when it opens a connection for each.
pub(super) fn write(
    f: &mut std::fmt::Formatter<'_>,
    request: u64,
    response: u64,
    delay_nanos: u64,
    connect: Connect,
) -> std::fmt::Result {
    let connect = super::connect_suffix(connect);
    write!(f, "net {}/{} delay {}{connect}", format_size(request), format_size(response), format_nanos(delay_nanos))
}
