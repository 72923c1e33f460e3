//! The `net` wire format, and the client side of a round trip done both ways.
//!
//! A request is a 24-byte header (request length, response length, delay in nanoseconds; little-endian
//! u64) and `request` bytes of [`body_byte`]. The answer is an 8-byte header (the response length,
//! little-endian u64) and `response` bytes of [`body_byte`]: the header is sent even when `response` is 0,
//! so a round trip always waits for the server's answer. A round trip yields the hash of the response body.

use std::io::{self, Read, Write};

/// Size of the request header.
pub const HEADER_LEN: usize = 24;

/// Size of the answer's header.
pub const ANSWER_HEADER_LEN: usize = 8;

/// Encodes a request header.
pub fn header(request: u64, response: u64, delay_nanos: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&request.to_le_bytes());
    h[8..16].copy_from_slice(&response.to_le_bytes());
    h[16..].copy_from_slice(&delay_nanos.to_le_bytes());
    h
}

/// Decodes a request header: (request length, response length, delay in nanoseconds).
pub fn parse_header(h: &[u8; HEADER_LEN]) -> (u64, u64, u64) {
    let word = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    (word(0), word(8), word(16))
}

/// A whole request: its header and `request` body bytes.
pub fn request(request: u64, response: u64, delay_nanos: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_LEN + request as usize);
    message.extend_from_slice(&header(request, response, delay_nanos));
    message.extend((0..request as usize).map(body_byte));
    message
}

/// Checks the answer's header against the response length the request asked for.
pub fn check_answer(h: &[u8; ANSWER_HEADER_LEN], response: u64) -> io::Result<()> {
    let got = u64::from_le_bytes(*h);
    if got == response {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the server announced a {got}-byte answer to a request for {response} bytes"),
        ))
    }
}

/// Byte `i` of every request and response body.
#[inline]
pub fn body_byte(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// Fills `out` with body bytes `offset..offset + out.len()`: a server streams a large answer in chunks
/// with it.
pub fn fill_body(offset: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = body_byte(offset as usize + i);
    }
}

/// A body of `len` bytes.
pub fn body(len: u64) -> Vec<u8> {
    (0..len as usize).map(body_byte).collect()
}

/// The connection error, naming the address.
pub(crate) fn connect_error(addr: &str, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("connecting to {addr}: {e}"))
}

/// One round trip over `stream`, blocking; the response body lands in `scratch`.
pub(crate) fn round_trip_blocking<S: Read + Write>(
    stream: &mut S,
    scratch: &mut Vec<u8>,
    request_len: u64,
    response: u64,
    delay_nanos: u64,
) -> io::Result<()> {
    stream.write_all(&request(request_len, response, delay_nanos))?;
    let mut answer = [0u8; ANSWER_HEADER_LEN];
    stream.read_exact(&mut answer)?;
    check_answer(&answer, response)?;
    scratch.resize(response as usize, 0);
    stream.read_exact(scratch)
}

/// One round trip over `stream`, without blocking the thread; the response body lands in `scratch`.
#[cfg(feature = "tokio")]
pub(crate) async fn round_trip_async<S>(
    stream: &mut S,
    scratch: &mut Vec<u8>,
    request_len: u64,
    response: u64,
    delay_nanos: u64,
) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(&request(request_len, response, delay_nanos)).await?;
    let mut answer = [0u8; ANSWER_HEADER_LEN];
    stream.read_exact(&mut answer).await?;
    check_answer(&answer, response)?;
    scratch.resize(response as usize, 0);
    stream.read_exact(scratch).await.map(|_| ())
}
