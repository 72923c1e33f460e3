//! A bare epoll client for Redis, the other yardstick of the `async` executor at one connection: no runtime,
//! no futures, one non-blocking connection and one `epoll` set, `INCR counter` sent and its reply read, one at
//! a time, with the system calls of an event loop (`sendto`, `epoll_wait`, `recvfrom`) and nothing else.
//! `cargo run --release -p harness-sdk --example bare_epoll_client -- PORT [COMMANDS] [--rearm] [--spin NS]`
//! prints the commands per second.
//!
//! `--rearm` does after each send what `redis-benchmark`'s event loop does: it takes the connection out of the
//! `epoll` set and puts it back with read interest (two `epoll_ctl` calls that change nothing a reply needs).
//! `--spin NS` spins for NS nanoseconds after each send before waiting. Neither does work the client needs; on
//! a virtual machine whose idle CPUs must be woken they show how much the moment a client goes to sleep, and
//! not its own cost, moves the rate of a round trip across CPUs (docs/measurement.md, services under load).

use std::io::{ErrorKind, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

fn main() {
    let mut port = None;
    let mut commands = 50_000u64;
    let mut rearm = false;
    let mut spin = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rearm" => rearm = true,
            "--spin" => spin = Duration::from_nanos(args.next().and_then(|n| n.parse().ok()).expect("--spin NS")),
            _ if port.is_none() => port = Some(arg.parse::<u16>().expect("the server's port")),
            _ => commands = arg.parse().expect("a number of commands"),
        }
    }
    let port = port.expect("the server's port");

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("a connection");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream.set_nonblocking(true).expect("a non-blocking socket");
    let fd = stream.as_raw_fd();
    let readable = || libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1: {}", std::io::Error::last_os_error());
    let control = |op: libc::c_int| {
        let mut event = readable();
        // SAFETY: both descriptors are open and `event` outlives the call.
        let done = unsafe { libc::epoll_ctl(epoll, op, fd, &raw mut event) };
        assert_eq!(done, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    };
    control(libc::EPOLL_CTL_ADD);

    let command = b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n";
    let mut reply = [0u8; 64];
    let mut events = [readable(); 8];
    let start = Instant::now();
    for _ in 0..commands {
        stream.write_all(command).expect("a write");
        if !spin.is_zero() {
            let sent = Instant::now();
            while sent.elapsed() < spin {
                std::hint::spin_loop();
            }
        }
        if rearm {
            control(libc::EPOLL_CTL_DEL);
            control(libc::EPOLL_CTL_ADD);
        }
        // An integer reply, `:N\r\n`, whole once its line ends.
        let mut got = 0;
        while got < 2 || &reply[got - 2..got] != b"\r\n" {
            // SAFETY: `events` is valid for its length; -1 waits until the connection is readable.
            let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as libc::c_int, -1) };
            if ready < 0 {
                let error = std::io::Error::last_os_error();
                assert_eq!(error.kind(), ErrorKind::Interrupted, "epoll_wait: {error}");
                continue;
            }
            match stream.read(&mut reply[got..]) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("a read: {e}"),
            }
        }
    }
    println!("{:.0}", commands as f64 / start.elapsed().as_secs_f64());
}
