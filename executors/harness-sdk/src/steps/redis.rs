//! `redis`: one command to the Redis server at `url`, `${task}` in its arguments standing for the task's
//! number. Yields the reply: an integer as is, a string's hash, an array's elements folded in order, nil 0.
//!
//! Its connections are those of every executor's task slots (`connect`, [`Connect`]): by default one per
//! worker of a blocking executor, kept for the worker's next task, and on tokio one per task in flight,
//! from a pool of idle connections that grows to the tasks in flight and no further, as `redis-benchmark
//! -c N` keeps N; `per_request` opens one for each command; `shared` sends the commands of every task in
//! flight over one multiplexed connection, pipelined (tokio only: the harness refuses it under an executor
//! that does not multiplex).
//!
//! On tokio a slot's connection is the task's own socket: the task writes the command and reads the reply
//! itself, with no task between it and the socket (a multiplexed connection's driver is one more task to
//! wake for every command).

use std::io;

use super::{Cost, Work};
use crate::checksum::{fold, hash_bytes};
use crate::protocol::Connect;

/// A Redis error, naming the server.
pub(super) fn error(url: &str, e: &redis::RedisError) -> io::Error {
    io::Error::other(format!("redis at {url}: {e}"))
}

/// The command of a `redis` step for task `task`: `${task}` in an argument becomes the task's number.
#[cfg(any(feature = "tokio", test))]
fn command(words: &[String], task: u64) -> redis::Cmd {
    let task = task.to_string();
    let mut words = words.iter().map(|w| w.replace("${task}", &task));
    let mut cmd = redis::cmd(&words.next().unwrap_or_default());
    for word in words {
        cmd.arg(word);
    }
    cmd
}

/// Writes the command of a `redis` step for task `task` into `out` (emptied first), packed as the protocol
/// sends it (an array of bulk strings, as the client library packs one): nothing is made per command
/// but an argument that names the task.
fn pack(out: &mut Vec<u8>, words: &[String], task: u64) {
    use crate::http1::push_decimal;
    out.clear();
    out.push(b'*');
    push_decimal(out, words.len() as u64);
    out.extend_from_slice(b"\r\n");
    for word in words {
        let named;
        // A byte search first: most words name no task, and a substring search costs its setup each time.
        let bytes = if word.contains('$') && word.contains("${task}") {
            named = word.replace("${task}", &task.to_string());
            named.as_bytes()
        } else {
            word.as_bytes()
        };
        out.push(b'$');
        push_decimal(out, bytes.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
}

/// What a `redis` step yields for its reply.
fn value(reply: &redis::Value) -> u64 {
    use redis::Value;
    match reply {
        Value::Nil => 0,
        Value::Int(n) => *n as u64,
        Value::BulkString(bytes) => hash_bytes(bytes),
        Value::SimpleString(text) => hash_bytes(text.as_bytes()),
        Value::Okay => hash_bytes(b"OK"),
        Value::Array(items) | Value::Set(items) => items.iter().fold(0, |acc, v| fold(acc, value(v))),
        other => hash_bytes(format!("{other:?}").as_bytes()),
    }
}

/// A worker's connection, and the server it goes to.
#[derive(Debug, Default)]
pub(super) struct Worker {
    connection: Option<(String, Blocking)>,
}

/// Why a blocking executor cannot run a step with `connect = "shared"` (the harness refuses it first).
fn not_multiplexed(url: &str) -> io::Error {
    io::Error::other(format!(
        "redis at {url}: connect = \"shared\" needs an executor that multiplexes, and this one keeps a connection per worker"
    ))
}

/// The `redis` step of task `task`, blocking the calling thread.
pub(super) fn blocking(
    worker: &mut Worker,
    url: &str,
    words: &[String],
    connect: Connect,
    task: u64,
) -> io::Result<u64> {
    let mut fresh;
    let slot = match connect {
        Connect::Shared => return Err(not_multiplexed(url)),
        Connect::PerRequest => {
            fresh = Blocking::open(url)?;
            &mut fresh
        }
        Connect::Reuse => match &mut worker.connection {
            Some((connected, slot)) if connected == url => slot,
            slot => &mut slot.insert((url.to_owned(), Blocking::open(url)?)).1,
        },
    };
    pack(&mut slot.wire.write, words, task);
    let end = match slot.exchange() {
        Ok(end) => end,
        Err(e) => {
            // A connection that failed mid-reply is not used again: its next reply would be this one's rest.
            worker.connection = None;
            return Err(error(url, &e));
        }
    };
    slot.wire.value(end).map_err(|e| error(url, &e))
}

/// The bytes of one task slot's connection, whatever its socket: the command being sent, and what was
/// read of its reply (nothing more, as one command at a time is in flight on it, unless the server sent
/// more than asked). Each is kept for its allocation.
#[derive(Debug, Default)]
struct Wire {
    read: Vec<u8>,
    write: Vec<u8>,
}

impl Wire {
    /// Where the reply ends, once `read` holds it whole.
    fn end(&self) -> Option<usize> {
        frame_end(&self.read, 0)
    }

    /// The reply that ends at `end`, taken; a reply of the server's errors is an error.
    fn reply(&mut self, end: usize) -> redis::RedisResult<redis::Value> {
        let reply = redis::parse_redis_value(&self.read[..end]);
        self.read.drain(..end);
        reply?.extract_error()
    }

    /// What the step yields for the reply that ends at `end`, taken: the common replies (an integer, a
    /// string, nil) are read in place, the others parsed by the client library.
    fn value(&mut self, end: usize) -> redis::RedisResult<u64> {
        match quick_value(&self.read[..end]) {
            Some(quick) => {
                self.read.drain(..end);
                Ok(quick)
            }
            None => self.reply(end).map(|reply| value(&reply)),
        }
    }
}

/// A server's host and port.
type Address = (String, u16);

/// Where a slot's connection goes (TCP, `redis://HOST:PORT/DB` with an optional user and password), and
/// the commands it sends first, packed: authentication and the database's selection, as the client
/// library's own connection does.
fn setup(url: &str) -> io::Result<(Address, Vec<Vec<u8>>)> {
    let client = redis::Client::open(url).map_err(|e| error(url, &e))?;
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err(io::Error::other(format!("redis at {url}: only a TCP address (redis://HOST:PORT/) is supported")));
    };
    let settings = info.redis_settings();
    let mut first = Vec::new();
    if let Some(password) = settings.password() {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = settings.username() {
            auth.arg(user);
        }
        auth.arg(password);
        first.push(auth.get_packed_command());
    }
    if settings.db() != 0 {
        first.push(redis::cmd("SELECT").arg(settings.db()).get_packed_command());
    }
    Ok(((host.clone(), *port), first))
}

fn connect_error(url: &str, e: &io::Error) -> io::Error {
    io::Error::other(format!("redis at {url}: {e}"))
}

/// One task slot's connection on a blocking socket.
#[derive(Debug)]
struct Blocking {
    stream: std::net::TcpStream,
    wire: Wire,
    /// What one read brings, before it joins the reply: made once per connection, not zeroed per command.
    chunk: Box<[u8]>,
}

impl Blocking {
    fn open(url: &str) -> io::Result<Self> {
        let (address, first) = setup(url)?;
        let stream = std::net::TcpStream::connect(address).map_err(|e| connect_error(url, &e))?;
        stream.set_nodelay(true)?;
        let mut slot = Blocking { stream, wire: Wire::default(), chunk: vec![0; 4096].into_boxed_slice() };
        for command in first {
            slot.wire.write = command;
            slot.exchange().and_then(|end| slot.wire.reply(end)).map_err(|e| error(url, &e))?;
        }
        Ok(slot)
    }

    /// Sends the packed command of [`Wire::write`] and reads until its reply is whole; where it ends.
    fn exchange(&mut self) -> redis::RedisResult<usize> {
        use io::{Read as _, Write as _};
        self.stream.write_all(&self.wire.write)?;
        loop {
            if let Some(end) = self.wire.end() {
                return Ok(end);
            }
            match self.stream.read(&mut self.chunk) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(n) => self.wire.read.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The connections of a run's `redis` steps on tokio (one server per workload): the idle connections of the
/// task slots, and the one shared connection when a step asks for it.
#[cfg(feature = "tokio")]
#[derive(Debug, Default)]
pub(super) struct Async {
    idle: super::Idle<Slot>,
    shared: tokio::sync::OnceCell<redis::aio::MultiplexedConnection>,
}

#[cfg(feature = "tokio")]
impl Async {
    /// Closes the idle connections: before the runtime that drives them goes.
    pub(super) fn close(&self) {
        self.idle.close();
    }
}

/// The `redis` step of task `task` as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(
    state: &Async,
    url: &str,
    words: &[String],
    connect: Connect,
    task: u64,
) -> io::Result<u64> {
    if connect == Connect::Shared {
        let cmd = command(words, task);
        let connection = state
            .shared
            .get_or_try_init(|| async {
                redis::Client::open(url)?.get_multiplexed_async_connection_with_config(&untimed()).await
            })
            .await
            .map_err(|e| error(url, &e))?;
        let reply: redis::Value = cmd.query_async(&mut connection.clone()).await.map_err(|e| error(url, &e))?;
        return Ok(value(&reply));
    }
    let mut slot = match state.idle.take(connect) {
        Some(slot) => slot,
        None => Slot::open(url).await?,
    };
    pack(&mut slot.wire.write, words, task);
    let end = slot.exchange().await.map_err(|e| error(url, &e))?;
    let reply = slot.wire.value(end).map_err(|e| error(url, &e))?;
    // A connection that failed mid-reply is dropped, not pooled: its next reply would be this one's rest.
    state.idle.give(connect, slot);
    Ok(reply)
}

/// A multiplexed connection without the client library's own timeouts (500 ms for an answer, 1 s to
/// connect): a blocking connection has none, and the run's `timeout` is the one limit of every executor.
#[cfg(feature = "tokio")]
pub(super) fn untimed() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new().set_response_timeout(None).set_connection_timeout(None)
}

/// One task slot's connection on tokio: the task writes its command and reads its reply itself.
#[cfg(feature = "tokio")]
#[derive(Debug)]
struct Slot {
    stream: tokio::net::TcpStream,
    wire: Wire,
}

#[cfg(feature = "tokio")]
impl Slot {
    async fn open(url: &str) -> io::Result<Self> {
        let (address, first) = setup(url)?;
        let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| connect_error(url, &e))?;
        stream.set_nodelay(true)?;
        let mut slot = Slot { stream, wire: Wire::default() };
        for command in first {
            slot.wire.write = command;
            let end = slot.exchange().await.map_err(|e| error(url, &e))?;
            slot.wire.reply(end).map_err(|e| error(url, &e))?;
        }
        Ok(slot)
    }

    /// Sends the packed command of [`Wire::write`] and reads until its reply is whole; where it ends.
    async fn exchange(&mut self) -> redis::RedisResult<usize> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.write_all(&self.wire.write).await?;
        loop {
            if let Some(end) = self.wire.end() {
                return Ok(end);
            }
            if self.stream.read_buf(&mut self.wire.read).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }
}

/// What the step yields for a whole reply of the common kinds, read in place as [`value`] reads the client
/// library's parse of it: an integer, a simple or bulk string, nil. `None` for the others (errors,
/// aggregates, RESP3's other kinds), which the library parses.
fn quick_value(reply: &[u8]) -> Option<u64> {
    let line_end = reply.windows(2).position(|w| w == b"\r\n")?;
    let line = reply.get(1..line_end)?;
    match *reply.first()? {
        b':' => std::str::from_utf8(line).ok()?.parse::<i64>().ok().map(|n| n as u64),
        b'+' => Some(hash_bytes(line)),
        b'_' => Some(0),
        b'$' => match std::str::from_utf8(line).ok()?.parse::<i64>().ok()? {
            -1 => Some(0),
            n => Some(hash_bytes(reply.get(line_end + 2..line_end + 2 + usize::try_from(n).ok()?)?)),
        },
        _ => None,
    }
}

/// Where the RESP value that starts at `at` in `bytes` ends, `None` when `bytes` does not hold it whole.
/// The value itself is the client library's to parse: this only finds its end.
fn frame_end(bytes: &[u8], at: usize) -> Option<usize> {
    let line_end = at + bytes.get(at..)?.windows(2).position(|w| w == b"\r\n")? + 2;
    let number = || std::str::from_utf8(&bytes[at + 1..line_end - 2]).ok()?.parse::<i64>().ok();
    match *bytes.get(at)? {
        // Strings of a length: the length, then the bytes and their CRLF; -1 is nil.
        b'$' | b'!' | b'=' => match number()? {
            n if n < 0 => Some(line_end),
            n => Some(line_end + n as usize + 2).filter(|&end| end <= bytes.len()),
        },
        // Aggregates: a count of values (pairs for maps and attributes), each a value of its own.
        kind @ (b'*' | b'~' | b'>' | b'%' | b'|') => {
            let count = number()?;
            let values = if matches!(kind, b'%' | b'|') { count.max(0) * 2 } else { count.max(0) };
            let mut end = line_end;
            for _ in 0..values {
                end = frame_end(bytes, end)?;
            }
            // An attribute annotates the value after it, which belongs to the same reply.
            if kind == b'|' { frame_end(bytes, end) } else { Some(end) }
        }
        // Everything else is one line: simple strings, errors, integers, nulls, doubles, booleans, big numbers.
        _ => Some(line_end),
    }
}

/// A round trip to the Redis server.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Service };
/// Not known: a reply depends on what the server holds, which outlives a run (`INCR` counts on).
pub(super) const DETERMINISTIC: bool = false;

/// `redis COMMAND at URL`, and ` per_request` or ` shared` when its connections are not the slots'.
pub(super) fn write(
    f: &mut std::fmt::Formatter<'_>,
    url: &str,
    command: &[String],
    connect: Connect,
) -> std::fmt::Result {
    write!(f, "redis {} at {url}{}", command.join(" "), super::connect_suffix(connect))
}

#[cfg(test)]
mod tests {
    use super::{command, frame_end, pack, quick_value, value};

    #[test]
    fn a_reply_read_in_place_yields_what_the_library_s_parse_of_it_does() {
        let replies: [&[u8]; 8] =
            [b":42\r\n", b":-7\r\n", b"+OK\r\n", b"+PONG\r\n", b"$5\r\nhello\r\n", b"$0\r\n\r\n", b"$-1\r\n", b"_\r\n"];
        for reply in replies {
            let parsed = redis::parse_redis_value(reply).unwrap();
            assert_eq!(quick_value(reply), Some(value(&parsed)), "{}", String::from_utf8_lossy(reply));
        }
        for other in [b"-ERR no\r\n".as_slice(), b"*1\r\n:1\r\n", b",1.5\r\n", b"#t\r\n"] {
            assert_eq!(quick_value(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn a_command_is_packed_as_the_client_library_packs_it() {
        let words: Vec<String> = ["SET", "key-${task}", "v ${task} $", "", "ünï"].map(String::from).to_vec();
        let mut out = Vec::new();
        for task in [0, 7, 123_456_789] {
            pack(&mut out, &words, task);
            assert_eq!(out, command(&words, task).get_packed_command(), "task {task}");
        }
    }

    #[test]
    fn a_reply_ends_where_its_last_value_does_and_not_before_it_is_whole() {
        let whole: [&[u8]; 6] =
            [b"+OK\r\n", b":42\r\n", b"$5\r\nhello\r\n", b"$-1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n+k\r\n+v\r\n"];
        for reply in whole {
            assert_eq!(frame_end(reply, 0), Some(reply.len()), "{}", String::from_utf8_lossy(reply));
            for cut in 0..reply.len() {
                assert_eq!(frame_end(&reply[..cut], 0), None, "{} cut at {cut}", String::from_utf8_lossy(reply));
            }
        }
        assert_eq!(frame_end(b"+OK\r\n:1\r\n", 0), Some(5));
    }
}
