//! The `shared` step's counter: read it, wait the hold, write it plus one, under a lock unless the step
//! says `lock = "none"`. The counter is in memory (an atomic, with a mutex as its lock), in the harness's
//! counter file (under `flock`), or in Redis (`SET lock token NX PX` as the lock, released by a
//! compare-and-delete script, so a task never frees another's lock). Without a lock, a yield between the
//! read and the write lets other tasks in: the increments they lose are the result.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::protocol::{RunRequest, SharedLock, SharedStore, Step};
use crate::workload::{FileLock, Prepared, SharedMode, WorkerState, lock, read_counter, write_counter};

/// Deletes the lock only when it still holds this task's token.
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// How long a lock lives if its holder dies without releasing it, beyond the hold itself.
const LOCK_TTL: Duration = Duration::from_secs(30);

/// A run's counter in Redis: the server and the keys.
#[derive(Debug)]
pub(crate) struct RedisStore {
    pub(crate) client: redis::Client,
    pub(crate) url: String,
    pub(crate) key: String,
    pub(crate) lock_key: String,
}

/// A Redis error, naming the server.
pub(crate) fn redis_error(url: &str, e: &redis::RedisError) -> io::Error {
    io::Error::other(format!("redis at {url}: {e}"))
}

impl RedisStore {
    /// The Redis store of `request`'s `shared` steps, with its counter reset to zero; `None` when no step
    /// keeps its counter in Redis.
    pub(crate) fn open(request: &RunRequest) -> io::Result<Option<Self>> {
        let url = request.workload.steps.iter().find_map(|s| match s {
            Step::Shared { store: SharedStore::Redis { url }, .. } => Some(url.clone()),
            _ => None,
        });
        let Some(url) = url else { return Ok(None) };
        let key = request.resources.shared_key.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "a `shared` step keeps its counter in Redis but the harness gave no shared_key",
            )
        })?;
        let client = redis::Client::open(url.as_str()).map_err(|e| redis_error(&url, &e))?;
        let store = Self { client, lock_key: format!("{key}:lock"), key, url };
        let mut connection = store.connect()?;
        redis::cmd("DEL")
            .arg(&store.key)
            .arg(&store.lock_key)
            .query::<()>(&mut connection)
            .map_err(|e| store.error(&e))?;
        Ok(Some(store))
    }

    pub(crate) fn connect(&self) -> io::Result<redis::Connection> {
        self.client.get_connection().map_err(|e| self.error(&e))
    }

    pub(crate) fn error(&self, e: &redis::RedisError) -> io::Error {
        redis_error(&self.url, e)
    }

    /// The counter's value now.
    pub(crate) fn count(&self) -> io::Result<u64> {
        let value: Option<u64> =
            redis::cmd("GET").arg(&self.key).query(&mut self.connect()?).map_err(|e| self.error(&e))?;
        Ok(value.unwrap_or(0))
    }

    /// `SET lock token NX PX ttl`: the command that takes the lock, or fails to while another task holds it.
    pub(crate) fn acquire(&self, token: &str, hold: Duration) -> redis::Cmd {
        let ttl = (LOCK_TTL + hold).as_millis() as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.lock_key).arg(token).arg("NX").arg("PX").arg(ttl);
        cmd
    }

    /// The compare-and-delete that releases the lock `token` holds.
    pub(crate) fn release(&self, token: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE).arg(1).arg(&self.lock_key).arg(token);
        cmd
    }

    pub(crate) fn read(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(&self.key);
        cmd
    }

    pub(crate) fn write(&self, value: u64) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.key).arg(value);
        cmd
    }
}

/// How long a task waits before it asks again for a lock another task holds: from 10us, doubling up to 1ms,
/// so that waiting tasks do not flood the server the holder needs.
#[derive(Default)]
struct Backoff {
    tries: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.tries = (self.tries + 1).min(7);
        Duration::from_micros(10 << (self.tries - 1)).min(Duration::from_millis(1))
    }
}

/// The token of task `task`'s lock: unique across the run's processes and tasks.
pub(crate) fn token(task: u64) -> String {
    format!("{}:{task}", std::process::id())
}

impl Prepared {
    /// The `shared` step of task `task`, blocking the calling thread.
    pub(crate) fn shared_blocking(
        &self,
        worker: &mut WorkerState,
        task: u64,
        hold: Duration,
        locking: SharedLock,
    ) -> io::Result<()> {
        let locked = locking == SharedLock::Exclusive;
        if let Some(store) = &self.redis {
            if worker.redis.is_none() {
                worker.redis = Some(store.connect()?);
            }
            let connection = worker.redis.as_mut().expect("connected above");
            let token = token(task);
            let mut backoff = Backoff::default();
            if locked {
                // `SET NX` answers OK when it took the lock, nil while another task holds it.
                while store
                    .acquire(&token, hold)
                    .query::<Option<String>>(connection)
                    .map_err(|e| store.error(&e))?
                    .is_none()
                {
                    crate::timer::sleep_blocking(backoff.next());
                }
            }
            let seen: Option<u64> = store.read().query(connection).map_err(|e| store.error(&e))?;
            if !locked {
                std::thread::yield_now();
            }
            crate::timer::sleep_blocking(hold);
            store.write(seen.unwrap_or(0) + 1).query::<()>(connection).map_err(|e| store.error(&e))?;
            if locked {
                store.release(&token).query::<i64>(connection).map_err(|e| store.error(&e))?;
            }
            return Ok(());
        }
        match self.shared_mode {
            SharedMode::Memory => {
                if !worker.counter_checked {
                    if std::process::id() != self.pid {
                        return Err(io::Error::other(
                            "a `shared` step ran in a forked process, but the counter is in the memory of the \
                             process that prepared the workload (`SharedMode::Memory`): an executor whose tasks \
                             run in other processes must prepare the workload with `SharedMode::File`",
                        ));
                    }
                    worker.counter_checked = true;
                }
                let _guard = locked.then(|| lock(&self.shared_guard));
                // Read, wait, write: without the lock, increments are lost, which the harness counts.
                let seen = self.shared_memory.load(Ordering::Acquire);
                if !locked {
                    std::thread::yield_now();
                }
                crate::timer::sleep_blocking(hold);
                self.shared_memory.store(seen + 1, Ordering::Release);
            }
            SharedMode::File => {
                if worker.shared_file.is_none() {
                    let path = self.shared_file.as_deref().expect("checked in new");
                    worker.shared_file = Some(std::fs::File::options().read(true).write(true).open(path)?);
                }
                let file = worker.shared_file.as_ref().expect("opened above");
                let _lock = if locked { Some(FileLock::exclusive(file)?) } else { None };
                let seen = read_counter(file)?;
                if !locked {
                    std::thread::yield_now();
                }
                crate::timer::sleep_blocking(hold);
                write_counter(file, seen + 1)?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "tokio")]
impl crate::nonblocking::AsyncWorkload {
    /// The `shared` step of task `task` as a future: the counter in memory behind a tokio mutex, or in
    /// Redis over one multiplexed connection that every task of the process shares, behind the same mutex
    /// and then the Redis lock.
    pub(crate) async fn shared_async(&self, task: u64, hold: Duration, locking: SharedLock) -> io::Result<()> {
        let locked = locking == SharedLock::Exclusive;
        let prepared = self.prepared();
        if let Some(store) = &prepared.redis {
            let connection = self
                .redis
                .get_or_try_init(|| async { store.client.get_multiplexed_async_connection().await })
                .await
                .map_err(|e| store.error(&e))?;
            let mut connection = connection.clone();
            // The tasks of this event loop queue on its own lock before they ask Redis for the shared one,
            // so that hundreds of waiting tasks do not poll the server the holder needs.
            let _local = if locked { Some(self.guard.lock().await) } else { None };
            let token = token(task);
            let mut backoff = Backoff::default();
            if locked {
                // `SET NX` answers OK when it took the lock, nil while another task holds it.
                while store
                    .acquire(&token, hold)
                    .query_async::<Option<String>>(&mut connection)
                    .await
                    .map_err(|e| store.error(&e))?
                    .is_none()
                {
                    crate::timer::sleep_precise(backoff.next()).await;
                }
            }
            let seen: Option<u64> = store.read().query_async(&mut connection).await.map_err(|e| store.error(&e))?;
            if !locked {
                tokio::task::yield_now().await;
            }
            crate::timer::sleep_precise(hold).await;
            store.write(seen.unwrap_or(0) + 1).query_async::<()>(&mut connection).await.map_err(|e| store.error(&e))?;
            if locked {
                store.release(&token).query_async::<i64>(&mut connection).await.map_err(|e| store.error(&e))?;
            }
            return Ok(());
        }
        let _guard = if locked { Some(self.guard.lock().await) } else { None };
        // No yield here: an event loop interleaves its tasks only where they wait, so without a hold a
        // one-thread loop loses no increment, and with one it does.
        let seen = prepared.shared_memory.load(Ordering::Acquire);
        if !hold.is_zero() {
            crate::timer::sleep_precise(hold).await;
        }
        prepared.shared_memory.store(seen + 1, Ordering::Release);
        Ok(())
    }
}
