//! `redis`: one command to the Redis server at `url`, `${task}` in its arguments standing for the task's
//! number, over a connection kept for the worker (on tokio, one multiplexed connection for the run, made
//! by the first task that needs it). Yields the reply: an integer as is, a string's hash, an array's
//! elements folded in order, nil 0.

use std::io;

use super::{Cost, Work};
use crate::checksum::{fold, hash_bytes};

/// A Redis error, naming the server.
pub(super) fn error(url: &str, e: &redis::RedisError) -> io::Error {
    io::Error::other(format!("redis at {url}: {e}"))
}

/// The command of a `redis` step for task `task`: `${task}` in an argument becomes the task's number.
fn command(words: &[String], task: u64) -> redis::Cmd {
    let task = task.to_string();
    let mut words = words.iter().map(|w| w.replace("${task}", &task));
    let mut cmd = redis::cmd(&words.next().unwrap_or_default());
    for word in words {
        cmd.arg(word);
    }
    cmd
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
#[derive(Default)]
pub(super) struct Worker {
    connection: Option<(String, redis::Connection)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("connected", &self.connection.as_ref().map(|(url, _)| url)).finish()
    }
}

/// The `redis` step of task `task`, blocking the calling thread.
pub(super) fn blocking(worker: &mut Worker, url: &str, words: &[String], task: u64) -> io::Result<u64> {
    let connection = match &mut worker.connection {
        Some((connected, connection)) if connected == url => connection,
        slot => {
            let client = redis::Client::open(url).map_err(|e| error(url, &e))?;
            let connection = client.get_connection().map_err(|e| error(url, &e))?;
            &mut slot.insert((url.to_owned(), connection)).1
        }
    };
    let reply: redis::Value = command(words, task).query(connection).map_err(|e| error(url, &e))?;
    Ok(value(&reply))
}

/// The connection of a run's `redis` steps on tokio (one server per workload).
#[cfg(feature = "tokio")]
#[derive(Debug, Default)]
pub(super) struct Async {
    connection: tokio::sync::OnceCell<redis::aio::MultiplexedConnection>,
}

/// The `redis` step of task `task` as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(state: &Async, url: &str, words: &[String], task: u64) -> io::Result<u64> {
    let connection = state
        .connection
        .get_or_try_init(|| async {
            redis::Client::open(url)?.get_multiplexed_async_connection_with_config(&untimed()).await
        })
        .await
        .map_err(|e| error(url, &e))?;
    let reply: redis::Value =
        command(words, task).query_async(&mut connection.clone()).await.map_err(|e| error(url, &e))?;
    Ok(value(&reply))
}

/// A multiplexed connection without the client library's own timeouts (500 ms for an answer, 1 s to
/// connect): a blocking connection has none, and the run's `timeout` is the one limit of every executor.
#[cfg(feature = "tokio")]
pub(super) fn untimed() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new().set_response_timeout(None).set_connection_timeout(None)
}

/// A round trip to the Redis server.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Service };
/// Not known: a reply depends on what the server holds, which outlives a run (`INCR` counts on).
pub(super) const DETERMINISTIC: bool = false;

/// `redis COMMAND at URL`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, url: &str, command: &[String]) -> std::fmt::Result {
    write!(f, "redis {} at {url}", command.join(" "))
}
