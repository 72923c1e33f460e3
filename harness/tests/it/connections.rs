//! One meaning of concurrency: the connections each executor opens to a real `redis-server`, counted by the
//! server (`INFO stats`, `total_connections_received`). By default one per task slot (a worker of a blocking
//! executor, a task in flight of the event loop), as `redis-benchmark -c N` opens N; one per command with
//! `connect = "per_request"`; one for the run with `connect = "shared"`, which only `async` honours.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::support::{read_runs, run_inline, wait_until};

/// A `redis-server` of the test's own on a free port, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        let server = Server { child, port };
        wait_until("redis-server answers", || TcpStream::connect(("127.0.0.1", port)).is_ok());
        server
    }

    /// The connections the server has accepted so far, this one asking included.
    fn connections_received(&self) -> u64 {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(b"INFO stats\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let length: usize = header.trim_start_matches('$').trim().parse().unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let text = String::from_utf8(body).unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix("total_connections_received:")).unwrap();
        line.trim().parse().unwrap()
    }

    /// The connections one run of a single cell opens: `executor` with `workers` and `options`, `tasks`
    /// tasks of one `INCR`, its connections as `connect` says.
    fn connections_of(&self, executor: &str, workers: u32, options: &str, connect: &str, tasks: u32) -> u64 {
        let name = format!("connections_{executor}");
        let text = format!(
            "[experiment]\nname = \"{name}\"\nrepetitions = 1\nwarmup = 0\n\n\
             [workloads.w]\ntasks = {tasks}\n\
             steps = [{{ redis = {{ command = [\"INCR\", \"k-${{task}}\"], url = \"redis://127.0.0.1:{}/\", connect = \"{connect}\" }} }}]\n\n\
             [matrix]\nexecutor = [\"{executor}\"]\nworkers = [{workers}]\n\n[executors.{executor}]\n{options}\n",
            self.port
        );
        let before = self.connections_received();
        let (_dir, _results, rows, stderr) = run_inline(&name, &text);
        let after = self.connections_received();
        assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}\n{stderr}");
        assert_eq!(rows[0]["tasks"], tasks.to_string(), "{rows:?}");
        // Less the connection that asked afterwards.
        after - before - 1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_executor_opens_one_connection_per_task_slot() {
    let server = Server::start();
    let tasks = 2000;
    assert_eq!(server.connections_of("sync", 1, "", "reuse", tasks), 1, "sync");
    assert_eq!(server.connections_of("threaded", 4, "", "reuse", tasks), 4, "threaded, 4 workers");
    assert_eq!(server.connections_of("multiprocess", 4, "", "reuse", tasks), 4, "multiprocess, 4 workers");
    // The event loop's slots are its tasks in flight, whatever its threads.
    let event_loop = "flavor = \"current_thread\"\nconcurrency = 16";
    assert_eq!(server.connections_of("async", 1, event_loop, "reuse", tasks), 16, "async, 16 in flight");
    let one = "flavor = \"current_thread\"\nconcurrency = 1";
    assert_eq!(server.connections_of("async", 1, one, "reuse", tasks), 1, "async, 1 in flight");
}

#[test]
fn shared_is_one_connection_for_the_run_and_per_request_one_per_command() {
    let server = Server::start();
    let event_loop = "flavor = \"current_thread\"\nconcurrency = 16";
    assert_eq!(server.connections_of("async", 1, event_loop, "shared", 2000), 1, "async, shared");
    let multi = "flavor = \"multi_thread\"\nconcurrency = 16";
    assert_eq!(server.connections_of("async", 2, multi, "shared", 2000), 1, "async on 2 threads, shared");
    for executor in ["sync", "threaded", "multiprocess"] {
        assert_eq!(server.connections_of(executor, 2, "", "per_request", 50), 50, "{executor}, per_request");
    }
    assert_eq!(server.connections_of("async", 1, event_loop, "per_request", 50), 50, "async, per_request");
}

/// The shared connection pipelines: the commands of the tasks in flight reach the server together, and every
/// reply goes to its own task (the replies of `INCR` on one key are each task's own count).
#[test]
fn commands_over_the_shared_connection_get_their_own_replies() {
    let server = Server::start();
    let text = |connect: &str| {
        format!(
            "[experiment]\nname = \"pipelined_{connect}\"\nrepetitions = 1\nwarmup = 0\n\n\
             [workloads.w]\ntasks = 500\n\
             steps = [{{ redis = {{ command = [\"SET\", \"v-${{task}}\", \"${{task}}\"], url = \"redis://127.0.0.1:{port}/\", connect = \"{connect}\" }} }}, \
             {{ redis = {{ command = [\"GET\", \"v-${{task}}\"], url = \"redis://127.0.0.1:{port}/\", connect = \"{connect}\" }} }}]\n\n\
             [matrix]\nexecutor = [\"async\"]\nconcurrency = [32]\n",
            port = server.port
        )
    };
    let (_a, shared, _, _) = run_inline("pipelined_shared", &text("shared"));
    let (_b, reused, _, _) = run_inline("pipelined_reuse", &text("reuse"));
    let (shared, reused) = (read_runs(&shared.join("runs.csv")), read_runs(&reused.join("runs.csv")));
    assert_eq!(shared[0]["status"], "ok", "{shared:?}");
    assert_eq!(shared[0]["checksum"], reused[0]["checksum"], "{shared:?}\n{reused:?}");
}
