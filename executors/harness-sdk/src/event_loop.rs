//! The SDK's own event loop: one thread, mio's `Poll` (epoll on Linux), a queue of the tasks woken, and
//! nothing else, as a load tool such as wrk or redis-benchmark runs its connections.
//!
//! Why it exists: on tokio's `current_thread` runtime, every wake-up of the thread (one per request at
//! one connection) also goes through the runtime's scheduler, its timer (clock reads, the wheel), its
//! process driver and its metrics' clock reads, and that work lies between the answer's arrival and the
//! next request: about 2 us of CPU a request more than wrk's loop, 5% of the rate at one connection
//! (docs/measurement.md, "Services under load against wrk and redis-benchmark"). Here a wake-up is an
//! `epoll_wait` that returns, the readiness it reports, and a poll of the task that waits for it.
//!
//! What runs on it natively: the sockets of `net`, `http` and `redis` steps ([`Stream`] picks this loop's
//! [`TcpStream`] when the task runs on one). Everything else a task awaits (timers, files, programs, a
//! shared Redis connection, the blocking pool) is tokio's, from a tokio runtime the caller enters on the
//! loop's thread and runs on threads of its own; those futures wake the loop's tasks from that runtime's
//! threads, through the loop's `eventfd` ([`mio::Waker`]).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::ReadBuf;

use crate::workload::lock;

/// The token of the loop's own waker; a socket's token is its index in [`Sources`].
const WAKE: mio::Token = mio::Token(usize::MAX);
/// The id of the future [`block_on`] runs; a spawned task's is its index in the loop's tasks.
const MAIN: usize = usize::MAX;

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;

thread_local! {
    /// The loop this thread runs, while it runs one.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Whether this thread is running an event loop ([`block_on`]): then [`Stream::connect`] makes its
/// sockets on it.
pub fn running() -> bool {
    CURRENT.with(|current| current.borrow().is_some())
}

fn current() -> Option<Rc<Core>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Runs `future` on an event loop on this thread, with the tasks it [`spawn`]s, until `future` is done.
/// Tasks still pending then are dropped.
///
/// # Errors
/// When the loop's `epoll` instance or `eventfd` cannot be made, or waiting on them fails.
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    let poll = mio::Poll::new()?;
    let remote = Arc::new(Remote {
        woken: Mutex::new(vec![MAIN]),
        parked: AtomicBool::new(false),
        waker: mio::Waker::new(poll.registry(), WAKE)?,
    });
    let driver = Arc::new(Driver { registry: poll.registry().try_clone()?, sources: Mutex::new(Sources::default()) });
    let core = Rc::new(Core {
        poll: RefCell::new(poll),
        events: RefCell::new(mio::Events::with_capacity(1024)),
        driver,
        remote: Arc::clone(&remote),
        tasks: RefCell::new(Vec::new()),
        free: RefCell::new(Vec::new()),
    });
    let _current = Enter::new(Rc::clone(&core));
    let main = Arc::new(TaskWaker { id: MAIN, queued: AtomicBool::new(true), remote: Arc::clone(&remote) });
    let waker = Waker::from(Arc::clone(&main));
    let mut future = std::pin::pin!(future);
    let mut woken = Vec::new();
    loop {
        std::mem::swap(&mut woken, &mut *lock(&remote.woken));
        for id in woken.drain(..) {
            if id == MAIN {
                main.queued.store(false, Ordering::Release);
                if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                    return Ok(output);
                }
            } else {
                core.run(id);
            }
        }
        core.park()?;
    }
}

/// Sets the thread's current loop for its lifetime; on the way out (a return or a panic) the tasks left
/// are dropped while the loop is still current, then the loop is forgotten.
struct Enter(Rc<Core>);

impl Enter {
    fn new(core: Rc<Core>) -> Self {
        CURRENT.with(|current| *current.borrow_mut() = Some(Rc::clone(&core)));
        Self(core)
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let tasks = std::mem::take(&mut *self.0.tasks.borrow_mut());
        drop(tasks);
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

/// The loop: its `epoll` instance, its sockets and its tasks.
struct Core {
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    driver: Arc<Driver>,
    remote: Arc<Remote>,
    tasks: RefCell<Vec<Option<Task>>>,
    free: RefCell<Vec<usize>>,
}

/// A spawned task: its future (out of the list while it is polled) and its waker.
struct Task {
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    waker: Arc<TaskWaker>,
}

impl Core {
    /// Polls task `id`, when it is still there (a wake can outlive its task).
    fn run(&self, id: usize) {
        let Some((mut future, waker)) = self.tasks.borrow_mut().get_mut(id).and_then(Option::as_mut).and_then(|task| {
            task.waker.queued.store(false, Ordering::Release);
            Some((task.future.take()?, Arc::clone(&task.waker)))
        }) else {
            return;
        };
        let waker = Waker::from(waker);
        // The future is out of the list while it runs, so that it may spawn tasks.
        if future.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
            self.tasks.borrow_mut()[id] = None;
            self.free.borrow_mut().push(id);
        } else if let Some(task) = self.tasks.borrow_mut()[id].as_mut() {
            task.future = Some(future);
        }
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()>>>) {
        let id = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut tasks = self.tasks.borrow_mut();
            tasks.push(None);
            tasks.len() - 1
        });
        let waker = Arc::new(TaskWaker { id, queued: AtomicBool::new(true), remote: Arc::clone(&self.remote) });
        self.tasks.borrow_mut()[id] = Some(Task { future: Some(future), waker });
        lock(&self.remote.woken).push(id);
    }

    /// Waits for readiness of the loop's sockets or a wake from another thread; without waiting when a
    /// task was woken meanwhile. Wakes the tasks that wait for what became ready.
    fn park(&self) -> io::Result<()> {
        self.remote.parked.store(true, Ordering::SeqCst);
        let timeout = (!lock(&self.remote.woken).is_empty()).then_some(std::time::Duration::ZERO);
        let mut events = self.events.borrow_mut();
        let waited = self.poll.borrow_mut().poll(&mut events, timeout);
        self.remote.parked.store(false, Ordering::SeqCst);
        match waited {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let sources = lock(&self.driver.sources);
        for event in events.iter() {
            if event.token() == WAKE {
                continue;
            }
            let Some(Some(io)) = sources.entries.get(event.token().0) else { continue };
            let mut ready = 0;
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                ready |= READABLE;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                ready |= WRITABLE;
            }
            io.ready.fetch_or(ready, Ordering::AcqRel);
            if ready & READABLE != 0 {
                if let Some(waker) = lock(&io.reader).take() {
                    waker.wake();
                }
            }
            if ready & WRITABLE != 0 {
                if let Some(waker) = lock(&io.writer).take() {
                    waker.wake();
                }
            }
        }
        Ok(())
    }
}

/// What the loop's wakers share with it: the ids of the tasks woken, and how to wake the loop from its wait
/// when it waits.
struct Remote {
    woken: Mutex<Vec<usize>>,
    /// Set while the loop waits (or is about to): a wake from another thread then writes the `eventfd`.
    parked: AtomicBool,
    waker: mio::Waker,
}

struct TaskWaker {
    id: usize,
    /// Whether the task is in the list of tasks woken already, so that it is there once.
    queued: AtomicBool,
    remote: Arc<Remote>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.remote.woken).push(self.id);
        // The loop sets `parked` before it looks at `woken` for the last time before it waits: either it
        // sees this id there, or this sees `parked` set and wakes it.
        if self.remote.parked.load(Ordering::SeqCst) {
            // A failed write leaves the loop waiting for its sockets only; nothing better can be done here.
            let _ = self.remote.waker.wake();
        }
    }
}

/// Runs `future` as a task of the loop running on this thread.
///
/// # Panics
/// When no loop runs on this thread.
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    let core = current().expect("event_loop::spawn outside event_loop::block_on");
    let join = Rc::new(RefCell::new(Join { output: None, waiter: None }));
    let done = Rc::clone(&join);
    core.spawn(Box::pin(async move {
        let output = CatchUnwind(std::pin::pin!(future)).await;
        let mut join = done.borrow_mut();
        join.output = Some(output);
        if let Some(waiter) = join.waiter.take() {
            waiter.wake();
        }
    }));
    JoinHandle(join)
}

struct Join<T> {
    output: Option<std::thread::Result<T>>,
    waiter: Option<Waker>,
}

/// A spawned task's end: its output, or its panic.
pub struct JoinHandle<T>(Rc<RefCell<Join<T>>>);

impl<T> Future for JoinHandle<T> {
    type Output = std::thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut join = self.0.borrow_mut();
        if let Some(output) = join.output.take() {
            return Poll::Ready(output);
        }
        join.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A future that ends with the panic of the one it runs instead of unwinding through the loop.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = Pin::new(&mut self.0);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The loop's sockets: what each is ready for and who waits for it. Shared with the sockets, which leave
/// it when they close (on any thread).
struct Driver {
    registry: mio::Registry,
    sources: Mutex<Sources>,
}

#[derive(Default)]
struct Sources {
    entries: Vec<Option<Arc<Io>>>,
    free: Vec<usize>,
}

/// A socket's readiness as the loop last heard of it, and the wakers of the tasks waiting for it.
#[derive(Default)]
struct Io {
    ready: AtomicU8,
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

/// A TCP connection on the loop. Ready to read or write until an attempt says it would block; then the
/// task waits for the loop to hear that it is ready again (edge-triggered).
pub struct TcpStream {
    stream: mio::net::TcpStream,
    token: usize,
    io: Arc<Io>,
    driver: Arc<Driver>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("stream", &self.stream).field("token", &self.token).finish_non_exhaustive()
    }
}

impl TcpStream {
    /// A connection to `address`, made without blocking the loop.
    ///
    /// # Errors
    /// When no loop runs on this thread, or the connection fails.
    pub async fn connect(address: SocketAddr) -> io::Result<Self> {
        let driver = current()
            .map(|core| Arc::clone(&core.driver))
            .ok_or_else(|| io::Error::other("no event loop runs on this thread"))?;
        let mut stream = mio::net::TcpStream::connect(address)?;
        let io = Arc::new(Io { ready: AtomicU8::new(0), ..Io::default() });
        let token = {
            let mut sources = lock(&driver.sources);
            let token = sources.free.pop().unwrap_or(sources.entries.len());
            if token == sources.entries.len() {
                sources.entries.push(None);
            }
            sources.entries[token] = Some(Arc::clone(&io));
            token
        };
        let registered =
            driver.registry.register(&mut stream, mio::Token(token), mio::Interest::READABLE | mio::Interest::WRITABLE);
        let connection = Self { stream, token, io, driver };
        registered?;
        // A connection in progress becomes writable when it is made or has failed.
        loop {
            std::future::poll_fn(|cx| connection.poll_ready(cx, WRITABLE)).await;
            if let Some(e) = connection.stream.take_error()? {
                return Err(e);
            }
            match connection.stream.peer_addr() {
                Ok(_) => return Ok(connection),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => connection.clear(WRITABLE),
                Err(e) => return Err(e),
            }
        }
    }

    /// Ready when the loop last heard the socket is ready for `interest`; else waits for it to hear so.
    fn poll_ready(&self, cx: &mut Context<'_>, interest: u8) -> Poll<()> {
        if self.io.ready.load(Ordering::Acquire) & interest != 0 {
            return Poll::Ready(());
        }
        let waiter = if interest == READABLE { &self.io.reader } else { &self.io.writer };
        let mut waiter = lock(waiter);
        match waiter.as_ref() {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn clear(&self, interest: u8) {
        self.io.ready.fetch_and(!interest, Ordering::AcqRel);
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.stream.set_nodelay(nodelay)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        // Leaving epoll before the socket closes; a closed socket would leave it anyway.
        let _ = self.driver.registry.deregister(&mut self.stream);
        let mut sources = lock(&self.driver.sources);
        sources.entries[self.token] = None;
        sources.free.push(self.token);
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl tokio::io::AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.poll_ready(cx, READABLE).is_pending() {
                return Poll::Pending;
            }
            let room = buf.remaining();
            // SAFETY: the kernel writes at most `room` bytes into the buffer's unfilled part and reads none
            // of it; the bytes it wrote are initialized.
            let n = unsafe {
                let unfilled: &mut [MaybeUninit<u8>] = buf.unfilled_mut();
                libc::recv(self.stream.as_raw_fd(), unfilled.as_mut_ptr().cast(), room, 0)
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::WouldBlock => self.clear(READABLE),
                    io::ErrorKind::Interrupted => {}
                    _ => return Poll::Ready(Err(error)),
                }
                continue;
            }
            let n = n as usize;
            // SAFETY: the kernel wrote `n` bytes.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            // A read that did not fill the room took every byte there was: the next would block, and the
            // loop hears of the next bytes as a new edge. (Not at the end, which stays readable.)
            if n > 0 && n < room {
                self.clear(READABLE);
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl tokio::io::AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            if self.poll_ready(cx, WRITABLE).is_pending() {
                return Poll::Pending;
            }
            match io::Write::write(&mut &self.stream, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(WRITABLE),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                written => return Poll::Ready(written),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(std::net::Shutdown::Write))
    }
}

/// A TCP connection of a step done without blocking: on this thread's event loop when it runs one
/// ([`block_on`]), else on the tokio runtime.
#[derive(Debug)]
pub enum Stream {
    Tokio(tokio::net::TcpStream),
    Loop(TcpStream),
}

impl Stream {
    /// A connection to the first of the addresses `address` names that accepts one, with Nagle's delay off.
    ///
    /// # Errors
    /// When a name cannot be looked up, or no address accepts a connection (the last one's error).
    pub async fn connect(address: impl tokio::net::ToSocketAddrs) -> io::Result<Self> {
        let stream = if running() {
            let mut last = None;
            let mut made = None;
            for address in tokio::net::lookup_host(address).await? {
                match TcpStream::connect(address).await {
                    Ok(stream) => {
                        made = Some(stream);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match made {
                Some(stream) => Self::Loop(stream),
                None => {
                    return Err(last.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
                    }));
                }
            }
        } else {
            Self::Tokio(tokio::net::TcpStream::connect(address).await?)
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match self {
            Self::Tokio(stream) => stream.set_nodelay(nodelay),
            Self::Loop(stream) => stream.set_nodelay(nodelay),
        }
    }

    /// The address of the server.
    ///
    /// # Errors
    /// When the socket has none (it is not connected).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Self::Tokio(stream) => stream.peer_addr(),
            Self::Loop(stream) => stream.peer_addr(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Self::Tokio(stream) => stream.as_raw_fd(),
            Self::Loop(stream) => stream.as_raw_fd(),
        }
    }
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tokio(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Loop(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tokio(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Loop(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tokio(stream) => Pin::new(stream).poll_flush(cx),
            Self::Loop(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tokio(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Loop(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's panic ends that task, not the loop; the others and the main future run on.
    #[test]
    fn a_panicking_task_is_its_handles_error_and_the_loop_goes_on() {
        let (panicked, other) = block_on(async {
            let panicking = spawn(async { panic!("a task panics") });
            let other = spawn(async { 7 });
            (panicking.await.is_err(), other.await.ok())
        })
        .unwrap();
        assert!(panicked);
        assert_eq!(other, Some(7));
    }

    /// A task woken from another thread while the loop waits in `epoll_wait` runs: the wake reaches the
    /// loop through its `eventfd`.
    #[test]
    fn a_wake_from_another_thread_reaches_a_waiting_loop() {
        let (send, receive) = tokio::sync::oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            send.send(42).unwrap();
        });
        let got = block_on(async move { spawn(async move { receive.await.unwrap() }).await.unwrap() }).unwrap();
        sender.join().unwrap();
        assert_eq!(got, 42);
    }

    /// A connection on the loop: a request out and its answer back, read in pieces.
    #[test]
    fn a_stream_on_the_loop_sends_and_reads_whole_answers() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut asked = [0u8; 5];
            io::Read::read_exact(&mut socket, &mut asked).unwrap();
            for piece in [&b"wor"[..], b"ld, ", b"hello"] {
                io::Write::write_all(&mut socket, piece).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let answer = block_on(async move {
            let mut stream = Stream::connect(address).await.unwrap();
            assert!(matches!(stream, Stream::Loop(_)));
            stream.write_all(b"hello").await.unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            answer
        })
        .unwrap();
        server.join().unwrap();
        assert_eq!(answer, b"world, hello");
    }

    /// A connection the server refuses is an error of that kind, as on tokio.
    #[test]
    fn a_refused_connection_is_an_error_on_the_loop() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let refused = block_on(async move { Stream::connect(address).await.err() }).unwrap();
        assert_eq!(refused.map(|e| e.kind()), Some(io::ErrorKind::ConnectionRefused));
    }
}
