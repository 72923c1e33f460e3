//! One meaning of concurrency: the connections each executor opens to a real `redis-server` and a real
//! nginx, counted by the server (`INFO stats`, `total_connections_received`; the stub status's `accepts`). By default one per task slot (a worker of a blocking
//! executor, a task in flight of the event loop), as `redis-benchmark -c N` opens N; one per command with
//! `connect = "per_request"`; one for the run with `connect = "shared"`, which only `async` honours.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::support::{read_runs, run_inline, wait_until};

/// A server of the test's own on a free port, which counts the connections it accepts; stopped when
/// dropped.
struct Server {
    child: Child,
    port: u16,
    /// The connections the server has accepted so far, the one asking included.
    received: fn(u16) -> u64,
    _dir: Option<tempfile::TempDir>,
}

/// A free port for a server these tests count the connections of, below the kernel's ephemeral range
/// (32768 and up by default): a port picked with `bind(0)` (the harness's choice of a service's port in
/// another test, or the source port of any connection) never lands there, so no other test's client
/// reaches this server and counts as one of its connections; and no two calls of this process pick the
/// same one.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Processes of the suite run one after another, but another checkout's may run beside this one.
    let start = 20_000 + (std::process::id() % 1000) as u16 * 10;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 10_000, "no free port between 20000 and 30000");
        let port = 20_000 + (start - 20_000 + n) % 10_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Server {
    /// `redis-server`, which counts in `INFO stats`.
    fn redis() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        Self::ready(Server { child, port, received: redis_received, _dir: None })
    }

    /// nginx serving a 1 KiB file, which counts in its stub status; it keeps a connection open for as many
    /// requests as it is sent (by default it closes one after 1,000).
    fn nginx() -> Self {
        Self::nginx_closing_idle_after("75s")
    }

    /// nginx that closes a connection idle for `timeout`.
    fn nginx_closing_idle_after(timeout: &str) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("www")).unwrap();
        std::fs::write(dir.path().join("www/1KiB.txt"), [b'x'; 1024]).unwrap();
        let conf = format!(
            "daemon off;\nworker_processes 1;\nuser root;\npid {root}/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    keepalive_requests 1000000;\n    keepalive_timeout {timeout};\n\
             client_body_temp_path {root}/b;\n    proxy_temp_path {root}/p;\n    fastcgi_temp_path {root}/f;\n\
             uwsgi_temp_path {root}/u;\n    scgi_temp_path {root}/s;\n\
             server {{\n        listen 127.0.0.1:{port};\n        root {root}/www;\n\
             location = /status {{ stub_status; }}\n    }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &root, "-c", &format!("{root}/nginx.conf"), "-e", "stderr"])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (.ci/run installs nginx-light)");
        Self::ready(Server { child, port, received: nginx_received, _dir: Some(dir) })
    }

    fn ready(self) -> Self {
        let port = self.port;
        wait_until("the server answers", || TcpStream::connect(("127.0.0.1", port)).is_ok());
        self
    }

    /// The connections one run of a single cell opens: `executor` with `workers` and `options`, `tasks`
    /// tasks of `step` (`${port}` in it is the server's).
    fn connections_of(&self, step: &str, executor: &str, workers: u32, options: &str, tasks: u32) -> u64 {
        let name = format!("connections_{executor}");
        let step = step.replace("${port}", &self.port.to_string());
        let text = format!(
            "[experiment]\nname = \"{name}\"\nrepetitions = 1\nwarmup = 0\n\n\
             [workloads.w]\ntasks = {tasks}\nsteps = [{step}]\n\n\
             [matrix]\nexecutor = [\"{executor}\"]\nworkers = [{workers}]\n\n[executors.{executor}]\n{options}\n"
        );
        let before = (self.received)(self.port);
        let (_dir, _results, rows, stderr) = run_inline(&name, &text);
        let after = (self.received)(self.port);
        assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}\n{stderr}");
        assert_eq!(rows[0]["tasks"], tasks.to_string(), "{rows:?}");
        // Less the connection that asked afterwards.
        after - before - 1
    }
}

/// `total_connections_received` of `INFO stats`.
fn redis_received(port: u16) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"INFO stats\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    let length: usize = header.trim_start_matches('$').trim().parse().unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let text = String::from_utf8(body).unwrap();
    text.lines().find_map(|l| l.strip_prefix("total_connections_received:")).unwrap().trim().parse().unwrap()
}

/// The `accepts` of nginx's stub status: `server accepts handled requests`, then the three numbers.
fn nginx_received(port: u16) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let after = text.split("server accepts handled requests").nth(1).unwrap_or_else(|| panic!("{text}"));
    after.split_whitespace().next().unwrap().parse().unwrap()
}

fn redis_step(connect: &str) -> String {
    format!(
        "{{ redis = {{ command = [\"INCR\", \"k-${{task}}\"], url = \"redis://127.0.0.1:${{port}}/\", connect = \"{connect}\" }} }}"
    )
}

const HTTP_STEP: &str = "{ http = { url = \"http://127.0.0.1:${port}/1KiB.txt\" } }";

impl Drop for Server {
    /// SIGTERM, which nginx's master passes on to its worker before it exits (SIGKILL would leave the worker).
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn every_executor_opens_one_connection_per_task_slot() {
    let server = Server::redis();
    let reuse = redis_step("reuse");
    let tasks = 2000;
    assert_eq!(server.connections_of(&reuse, "sync", 1, "", tasks), 1, "sync");
    assert_eq!(server.connections_of(&reuse, "threaded", 4, "", tasks), 4, "threaded, 4 workers");
    assert_eq!(server.connections_of(&reuse, "multiprocess", 4, "", tasks), 4, "multiprocess, 4 workers");
    // The event loop's slots are its tasks in flight, whatever its threads.
    let event_loop = "flavor = \"current_thread\"\nconcurrency = 16";
    assert_eq!(server.connections_of(&reuse, "async", 1, event_loop, tasks), 16, "async, 16 in flight");
    let one = "flavor = \"current_thread\"\nconcurrency = 1";
    assert_eq!(server.connections_of(&reuse, "async", 1, one, tasks), 1, "async, 1 in flight");
}

/// The counter of `shared` steps in Redis too: a connection per task slot under every executor, an event
/// loop's tasks in flight as a blocking executor's workers, with the lock and without; besides them, the
/// run's process opens one to clear the counter before the tasks and one to read it after.
#[test]
fn shared_counter_steps_keep_a_connection_per_task_slot() {
    let server = Server::redis();
    let (slots, own) = (4, 2);
    for lock in ["exclusive", "none"] {
        let step = format!(
            "{{ shared = {{ store = \"redis\", url = \"redis://127.0.0.1:${{port}}/\", lock = \"{lock}\" }} }}"
        );
        let threaded = server.connections_of(&step, "threaded", slots, "", 200);
        assert_eq!(threaded, u64::from(slots) + own, "threaded, {slots} workers, lock {lock}");
        let event_loop = format!("flavor = \"current_thread\"\nconcurrency = {slots}");
        let async_ = server.connections_of(&step, "async", 1, &event_loop, 200);
        assert_eq!(async_, u64::from(slots) + own, "async, {slots} in flight, lock {lock}");
    }
}

#[test]
fn shared_is_one_connection_for_the_run_and_per_request_one_per_command() {
    let server = Server::redis();
    let (shared, per_request) = (redis_step("shared"), redis_step("per_request"));
    let event_loop = "flavor = \"current_thread\"\nconcurrency = 16";
    assert_eq!(server.connections_of(&shared, "async", 1, event_loop, 2000), 1, "async, shared");
    let multi = "flavor = \"multi_thread\"\nconcurrency = 16";
    assert_eq!(server.connections_of(&shared, "async", 2, multi, 2000), 1, "async on 2 threads, shared");
    for executor in ["sync", "threaded", "multiprocess"] {
        assert_eq!(server.connections_of(&per_request, executor, 2, "", 50), 50, "{executor}, per_request");
    }
    assert_eq!(server.connections_of(&per_request, "async", 1, event_loop, 50), 50, "async, per_request");
}

/// The shared connection pipelines: the commands of the tasks in flight reach the server together, and every
/// reply goes to its own task (the replies of `INCR` on one key are each task's own count).
#[test]
fn commands_over_the_shared_connection_get_their_own_replies() {
    let server = Server::redis();
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

#[test]
fn every_executor_opens_one_http_connection_per_task_slot() {
    let server = Server::nginx();
    let tasks = 2000;
    assert_eq!(server.connections_of(HTTP_STEP, "sync", 1, "", tasks), 1, "sync");
    assert_eq!(server.connections_of(HTTP_STEP, "threaded", 4, "", tasks), 4, "threaded, 4 workers");
    assert_eq!(server.connections_of(HTTP_STEP, "multiprocess", 4, "", tasks), 4, "multiprocess, 4 workers");
    for concurrency in [1, 16, 64] {
        let options = format!("flavor = \"current_thread\"\nconcurrency = {concurrency}");
        let opened = server.connections_of(HTTP_STEP, "async", 1, &options, tasks);
        assert_eq!(opened, concurrency, "async, {concurrency} in flight");
    }
}

/// The summary, the report and the charts say the load each cell drew: tasks in flight and connections, so
/// that a pipelined cell is not read as one of a connection per task.
#[test]
fn the_summary_the_report_and_the_charts_name_the_load_of_each_cell() {
    let server = Server::redis();
    let text = format!(
        "[experiment]\nname = \"load_labels\"\nrepetitions = 1\nwarmup = 0\n\n\
         [workloads.slots]\ntasks = 200\nsteps = [{}]\n\n\
         [workloads.pipelined]\ntasks = 200\nsteps = [{}]\n\n\
         [matrix]\nexecutor = [\"threaded\", \"async\"]\nworkers = [4]\nworkload = [\"slots\", \"pipelined\"]\n\
         exclude = [{{ executor = \"threaded\", workload = \"pipelined\" }}]\n\n\
         [executors.async]\nconcurrency = 8\n\n\
         [[charts]]\ntitle = \"Commands per second\"\nx = \"workload\"\ny = \"throughput_per_s\"\nseries = \"executor\"\n",
        redis_step("reuse").replace("${port}", &server.port.to_string()),
        redis_step("shared").replace("${port}", &server.port.to_string()),
    );
    let (_dir, results, rows, stderr) = run_inline("load_labels", &text);
    assert_eq!(rows.len(), 3, "{stderr}");
    let summary: Vec<_> =
        read_runs(&results.join("summary.csv")).into_iter().filter(|r| r["metric"] == "run_s").collect();
    let load = |executor: &str, workload: &str| {
        let row = summary.iter().find(|r| r["executor"] == executor && r["workload"] == workload).unwrap();
        (row["in_flight"].clone(), row["connections"].clone())
    };
    assert_eq!(load("threaded", "slots"), ("4".to_owned(), "4".to_owned()));
    assert_eq!(load("async", "slots"), ("8".to_owned(), "8".to_owned()));
    assert_eq!(load("async", "pipelined"), ("8".to_owned(), "1 shared".to_owned()));
    let report = std::fs::read_to_string(results.join("report.md")).unwrap();
    assert!(report.contains("| load |") || report.contains("| load"), "{report}");
    assert!(report.contains("8 in flight, 1 shared connection"), "{report}");
    let chart = std::fs::read_dir(results.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("commands-per-second"))
        .expect("the chart of the file");
    let svg = std::fs::read_to_string(chart).unwrap();
    assert!(svg.contains("load: threaded 4 in flight; async 8 in flight / 8 in flight, 1 shared connection"), "{svg}");
}

/// A connection the server closed while it was idle is not a failure: the slot opens a new one, as wrk does.
#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_under_every_executor() {
    let server = Server::nginx_closing_idle_after("50ms");
    let step = format!("{HTTP_STEP}, {{ sleep = \"250ms\" }}");
    for (executor, workers, options) in [
        ("sync", 1, ""),
        ("threaded", 2, ""),
        ("multiprocess", 2, ""),
        ("async", 1, "flavor = \"current_thread\"\nconcurrency = 2"),
    ] {
        // Every request finds its slot's connection closed by the server: 6 requests, 6 connections.
        assert_eq!(server.connections_of(&step, executor, workers, options, 6), 6, "{executor}");
    }
}
