//! `shared`: adds one to a counter shared by every task of the run: read it, wait the hold, write it plus
//! one, under a lock unless the step says `lock = "none"`. The counter is in memory (an atomic, with a
//! mutex as its lock; on tokio, a tokio mutex), in the harness's counter file (under `flock`), or in Redis
//! (`SET lock token NX PX` as the lock, released by a compare-and-delete script, so a task never frees
//! another's lock). Without a lock, a yield between the read and the write lets other tasks in: the
//! increments they lose are the result. Yields 1.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Cost, Wait, Work};
use crate::protocol::{RunRequest, SharedLock, SharedStore, Step};
use crate::units::format_nanos;
use crate::workload::{Prepared, SharedMode, lock};

/// What a `shared` step yields.
const VALUE: u64 = 1;

/// Deletes the lock only when it still holds this task's token.
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// How long a lock lives if its holder dies without releasing it, beyond the hold itself.
const LOCK_TTL: Duration = Duration::from_secs(30);

/// A run's counter in Redis: the server and the keys.
#[derive(Debug)]
struct RedisStore {
    client: redis::Client,
    url: String,
    key: String,
    lock_key: String,
}

impl RedisStore {
    /// The Redis store of `request`'s `shared` steps, with its counter reset to zero; `None` when no step
    /// keeps its counter in Redis.
    fn open(request: &RunRequest) -> io::Result<Option<Self>> {
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
        let client = redis::Client::open(url.as_str()).map_err(|e| super::redis::error(&url, &e))?;
        let store = Self { client, lock_key: format!("{key}:lock"), key, url };
        let mut connection = store.connect()?;
        redis::cmd("DEL")
            .arg(&store.key)
            .arg(&store.lock_key)
            .query::<()>(&mut connection)
            .map_err(|e| store.error(&e))?;
        Ok(Some(store))
    }

    fn connect(&self) -> io::Result<redis::Connection> {
        self.client.get_connection().map_err(|e| self.error(&e))
    }

    fn error(&self, e: &redis::RedisError) -> io::Error {
        super::redis::error(&self.url, e)
    }

    /// The counter's value now.
    fn count(&self) -> io::Result<u64> {
        let value: Option<u64> =
            redis::cmd("GET").arg(&self.key).query(&mut self.connect()?).map_err(|e| self.error(&e))?;
        Ok(value.unwrap_or(0))
    }

    /// `SET lock token NX PX ttl`: the command that takes the lock, or fails to while another task holds it.
    fn acquire(&self, token: &str, hold: Duration) -> redis::Cmd {
        let ttl = (LOCK_TTL + hold).as_millis() as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.lock_key).arg(token).arg("NX").arg("PX").arg(ttl);
        cmd
    }

    /// The compare-and-delete that releases the lock `token` holds.
    fn release(&self, token: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE).arg(1).arg(&self.lock_key).arg(token);
        cmd
    }

    fn read(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(&self.key);
        cmd
    }

    fn write(&self, value: u64) -> redis::Cmd {
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
fn token(task: u64) -> String {
    format!("{}:{task}", std::process::id())
}

/// The run's counter: where it is, and its lock.
#[derive(Debug)]
pub(super) struct Run {
    mode: SharedMode,
    file: Option<PathBuf>,
    /// The counter of `SharedMode::Memory`, and its lock.
    memory: AtomicU64,
    guard: Mutex<()>,
    /// The counter in Redis, when the `shared` steps keep it there.
    redis: Option<RedisStore>,
    /// The process that prepared the workload: a `Memory` counter only counts increments made in it.
    pid: u32,
}

impl Run {
    /// Fails when a `shared` step needs the counter file and the harness gave none.
    pub(super) fn new(request: &RunRequest, mode: SharedMode) -> io::Result<Self> {
        let redis = RedisStore::open(request)?;
        let file = request.resources.shared_file.clone();
        let used = request.workload.steps.iter().any(|s| matches!(s, Step::Shared { .. }));
        if used && redis.is_none() && mode == SharedMode::File && file.is_none() {
            return Err(super::missing("shared", "shared_file"));
        }
        Ok(Self { mode, file, memory: AtomicU64::new(0), guard: Mutex::new(()), redis, pid: std::process::id() })
    }
}

/// A worker's handle on the counter: the counter file, or its connection to Redis.
#[derive(Default)]
pub(super) struct Worker {
    file: Option<File>,
    redis: Option<redis::Connection>,
    /// Whether this worker checked that a `Memory` counter is in its own process.
    counter_checked: bool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("file", &self.file).field("redis", &self.redis.is_some()).finish_non_exhaustive()
    }
}

impl Prepared {
    /// Whether any step uses the shared counter.
    pub fn uses_shared(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Shared { .. }))
    }

    /// The value of the shared counter now, `None` when no step uses it.
    pub fn shared_count(&self) -> io::Result<Option<u64>> {
        if !self.uses_shared() {
            return Ok(None);
        }
        let run = &self.state.shared;
        if let Some(store) = &run.redis {
            return store.count().map(Some);
        }
        match run.mode {
            SharedMode::Memory => Ok(Some(run.memory.load(Ordering::Acquire))),
            SharedMode::File => {
                let path = run.file.as_deref().expect("checked in new");
                read_counter(&File::open(path)?).map(Some)
            }
        }
    }
}

/// The `shared` step of task `task`, blocking the calling thread.
pub(super) fn blocking(
    prepared: &Prepared,
    worker: &mut Worker,
    task: u64,
    hold_nanos: u64,
    locking: SharedLock,
) -> io::Result<u64> {
    let hold = Duration::from_nanos(hold_nanos);
    let run = &prepared.state.shared;
    let locked = locking == SharedLock::Exclusive;
    if let Some(store) = &run.redis {
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
        return Ok(VALUE);
    }
    match run.mode {
        SharedMode::Memory => {
            if !worker.counter_checked {
                if std::process::id() != run.pid {
                    return Err(io::Error::other(
                        "a `shared` step ran in a forked process, but the counter is in the memory of the \
                             process that prepared the workload (`SharedMode::Memory`): an executor whose tasks \
                             run in other processes must prepare the workload with `SharedMode::File`",
                    ));
                }
                worker.counter_checked = true;
            }
            let _guard = locked.then(|| lock(&run.guard));
            // Read, wait, write: without the lock, increments are lost, which the harness counts.
            let seen = run.memory.load(Ordering::Acquire);
            if !locked {
                std::thread::yield_now();
            }
            crate::timer::sleep_blocking(hold);
            run.memory.store(seen + 1, Ordering::Release);
        }
        SharedMode::File => {
            if worker.file.is_none() {
                let path = run.file.as_deref().expect("checked in new");
                worker.file = Some(std::fs::File::options().read(true).write(true).open(path)?);
            }
            let file = worker.file.as_ref().expect("opened above");
            let _lock = if locked { Some(FileLock::exclusive(file)?) } else { None };
            let seen = read_counter(file)?;
            if !locked {
                std::thread::yield_now();
            }
            crate::timer::sleep_blocking(hold);
            write_counter(file, seen + 1)?;
        }
    }
    Ok(VALUE)
}

/// The lock of the counter in memory on tokio, and the idle connections to the counter's Redis: one per
/// task in flight, as a blocking executor keeps one per worker.
#[cfg(feature = "tokio")]
#[derive(Debug, Default)]
pub(super) struct Async {
    guard: tokio::sync::Mutex<()>,
    idle: super::Idle<redis::aio::MultiplexedConnection>,
}

#[cfg(feature = "tokio")]
impl Async {
    /// Closes the idle connections: before the runtime that drives them goes.
    pub(super) fn close(&self) {
        self.idle.close();
    }
}

/// The `shared` step of task `task` as a future: the counter in memory behind a tokio mutex, or in Redis
/// over a connection of the task's own (taken from the idle ones, or opened), behind the same mutex and
/// then the Redis lock.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(
    prepared: &Prepared,
    state: &Async,
    task: u64,
    hold_nanos: u64,
    locking: SharedLock,
) -> io::Result<u64> {
    let hold = Duration::from_nanos(hold_nanos);
    let locked = locking == SharedLock::Exclusive;
    let run = &prepared.state.shared;
    if let Some(store) = &run.redis {
        let mut connection = match state.idle.take(crate::protocol::Connect::Reuse) {
            Some(connection) => connection,
            None => store
                .client
                .get_multiplexed_async_connection_with_config(&super::redis::untimed())
                .await
                .map_err(|e| store.error(&e))?,
        };
        // The tasks of this event loop queue on its own lock before they ask Redis for the shared one,
        // so that hundreds of waiting tasks do not poll the server the holder needs.
        let _local = if locked { Some(state.guard.lock().await) } else { None };
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
        // A connection that failed is dropped (the `?`s above), not pooled.
        state.idle.give(crate::protocol::Connect::Reuse, connection);
        return Ok(VALUE);
    }
    let _guard = if locked { Some(state.guard.lock().await) } else { None };
    // No yield here: an event loop interleaves its tasks only where they wait, so without a hold a
    // one-thread loop loses no increment, and with one it does.
    let seen = run.memory.load(Ordering::Acquire);
    if !hold.is_zero() {
        crate::timer::sleep_precise(hold).await;
    }
    run.memory.store(seen + 1, Ordering::Release);
    Ok(VALUE)
}

fn read_counter(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(u64::from_le_bytes(bytes))
}

fn write_counter(file: &File, value: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(&value.to_le_bytes(), 0)
}

/// An exclusive `flock` held until dropped.
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn exclusive(file: &'a File) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a valid, open descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor locked in `exclusive`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The hold, which the lock serializes; CPU work around it, or a round trip to Redis.
pub(super) fn cost(hold_nanos: u64, store: &SharedStore, lock: SharedLock) -> Cost {
    let work = match store {
        SharedStore::Executor => Work::Cpu,
        SharedStore::Redis { .. } => Work::Service,
    };
    Cost { wait: Some(Wait::Hold { nanos: hold_nanos, serializes: lock == SharedLock::Exclusive }), work }
}

/// It yields 1, with or without the lock: what a missing lock loses is counted apart (`shared_lost`), not
/// in the checksum.
pub(super) const DETERMINISTIC: bool = true;

/// `shared hold 1ms`, then ` in URL` for a counter in Redis and ` unlocked` without the lock.
pub(super) fn write(
    f: &mut std::fmt::Formatter<'_>,
    hold_nanos: u64,
    store: &SharedStore,
    lock: SharedLock,
) -> std::fmt::Result {
    write!(f, "shared hold {}", format_nanos(hold_nanos))?;
    if let SharedStore::Redis { url } = store {
        write!(f, " in {url}")?;
    }
    if lock == SharedLock::None {
        write!(f, " unlocked")?;
    }
    Ok(())
}

impl Step {
    /// The lock of a step that adds one to the run's shared counter, which the harness checks after the
    /// run; `None` for a step that does not.
    pub fn shared_lock(&self) -> Option<SharedLock> {
        match *self {
            Step::Shared { lock, .. } => Some(lock),
            _ => None,
        }
    }
}
