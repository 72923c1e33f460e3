//! A bare event-loop client for Redis, the yardstick of the `async` executor at one connection: a tokio
//! `current_thread` runtime, one connection, `INCR counter` sent and its reply read, one at a time, with
//! nothing else (no steps, no latency histogram, no harness). `cargo run --release -p harness-sdk --features
//! tokio --example bare_redis_client -- PORT [COMMANDS]` prints the commands per second.
//!
//! Against it and `redis-benchmark -P 1 -c 1` on the same server, the harness's event loop shows what it
//! adds to tokio's own cost (docs/measurement.md, services under load).

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let port = u16::try_from(args.next().expect("the server's port")).expect("a port");
    let commands = args.next().unwrap_or(50_000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let rate = runtime.block_on(async move {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("a connection");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let command = b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n";
        let mut reply = [0u8; 64];
        let start = std::time::Instant::now();
        for _ in 0..commands {
            stream.write_all(command).await.expect("a write");
            // An integer reply, `:N\r\n`, whole once its line ends.
            let mut got = 0;
            while got < 2 || &reply[got - 2..got] != b"\r\n" {
                let n = stream.read(&mut reply[got..]).await.expect("a read");
                assert!(n > 0, "the server closed the connection");
                got += n;
            }
        }
        commands as f64 / start.elapsed().as_secs_f64()
    });
    println!("{rate:.0}");
}
