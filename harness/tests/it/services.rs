//! `[services]`: real servers (python3's `http.server`, `redis-server`) started by the harness on ports it
//! picks, ready by their probes, logged, measured per run, restarted per scope, and stopped whatever ends
//! the experiment. Every harness here carries a marker in its environment, which its services inherit, so
//! the tests can find every process they left.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};

use crate::support::{self, marked, read_runs, unique_marker, wait_until, write_inline};

/// The `redis-server` the tests start. `.ci/run` installs it; a machine without it fails here, loudly.
fn redis_server() -> &'static str {
    let found = std::process::Command::new("sh").args(["-c", "command -v redis-server"]).output().unwrap();
    assert!(
        found.status.success(),
        "redis-server is not installed: the services tests need it (`apt-get install -y redis-server`; .ci/run installs it)"
    );
    "redis-server"
}

const API: &str = r#"
[services.api]
command = "echo started $$; exec python3 -m http.server ${port} --bind 127.0.0.1"
ready = { http = "http://127.0.0.1:${port}/" }
ready_timeout = "20s"
"#;

/// An experiment of one sync cell whose `tasks` is the port of service `api`, so the rows say which port
/// the steps were given.
fn experiment(name: &str, header: &str, services: &str, steps: &str) -> String {
    format!(
        "[experiment]\nname = \"{name}\"\n{header}\n{services}\n\
         [workloads.w]\ntasks = 1\nsteps = [{steps}]\n\n[matrix]\nexecutor = [\"sync\"]\n"
    )
}

/// Runs `text` to its end with a marker; returns the temporary folder, the result folder, the output
/// and the marker.
fn run(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, Output, String) {
    let marker = unique_marker(name);
    let (dir, file) = write_inline(name, text);
    let output = support::start_marked(&marker, &file, &dir.path().join("out")).wait_with_output().unwrap();
    let results = dir.path().join("out").join(name).join("latest");
    (dir, results, output, marker)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The pid each log of `service` says it started as (`started PID`), in the order of the logs.
fn started_pids(results: &Path, logs: &[&str]) -> Vec<String> {
    logs.iter()
        .map(|log| {
            let text = std::fs::read_to_string(results.join("logs/services").join(log))
                .unwrap_or_else(|e| panic!("{log}: {e}"));
            let line = text.lines().find(|l| l.starts_with("started ")).unwrap_or_else(|| panic!("{log}: {text}"));
            line["started ".len()..].to_owned()
        })
        .collect()
}

#[test]
fn services_are_ready_on_their_ports_logged_measured_and_gone_at_the_end() {
    redis_server();
    let services = format!(
        "{API}\n[services.redis]\ncommand = [\"redis-server\", \"--port\", \"${{port}}\", \"--save\", \"\", \"--appendonly\", \"no\"]\n\
         ready = {{ log = \"Ready to accept\" }}\n"
    );
    let text = experiment("ready", "repetitions = 2\nwarmup = 0", &services, "{ compute = \"1KiB\" }")
        .replace("tasks = 1", "tasks = \"${services.api.port}\"");
    let (_dir, results, output, marker) = run("ready", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 2);
    // The port the harness substituted into the workload is the one the server listens on, and the
    // http probe reached it.
    let port = &rows[0]["tasks"];
    let api = std::fs::read_to_string(results.join("logs/services/api.log")).unwrap();
    assert!(api.contains(&format!("Serving HTTP on 127.0.0.1 port {port} ")), "{api}");
    assert!(api.contains("\"GET / HTTP/1.1\" 200"), "{api}");
    let redis = std::fs::read_to_string(results.join("logs/services/redis.log")).unwrap();
    assert!(redis.contains("Ready to accept"), "{redis}");
    // Started once for the experiment.
    assert_eq!(started_pids(&results, &["api.log"]).len(), 1);
    for row in &rows {
        for service in ["api", "redis"] {
            let cpu: f64 = row[&format!("service_{service}_cpu_s")].parse().unwrap();
            let peak: u64 = row[&format!("service_{service}_peak_memory_bytes")].parse().unwrap();
            assert!(cpu >= 0.0 && peak > 0, "{service}: {row:?}");
        }
    }
    let summary = std::fs::read_to_string(results.join("summary.csv")).unwrap();
    for metric in ["service_api_cpu_s", "service_redis_peak_memory_bytes"] {
        assert!(summary.lines().any(|l| l.split(',').any(|f| f == metric)), "{metric} not in\n{summary}");
    }
    assert_eq!(marked(&marker), []);
}

#[test]
fn scope_run_starts_a_fresh_server_for_every_run() {
    let text =
        experiment("per_run", "repetitions = 2\nwarmup = 1", &format!("{API}scope = \"run\"\n"), "{ sleep = \"1ms\" }");
    let (_dir, results, output, marker) = run("per_run", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut pids = started_pids(&results, &["api-1.log", "api-2.log", "api-3.log"]);
    assert!(!results.join("logs/services/api-4.log").exists());
    pids.dedup();
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert_eq!(marked(&marker), []);
}

#[test]
fn scope_cell_starts_a_fresh_server_for_every_cell() {
    let text = experiment(
        "per_cell",
        "repetitions = 2\nwarmup = 0\norder = \"sequential\"",
        &format!("{API}scope = \"cell\"\n"),
        "{ sleep = \"1ms\" }",
    )
    .replace("executor = [\"sync\"]", "executor = [\"sync\", \"threaded\"]");
    let (_dir, results, output, marker) = run("per_cell", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let pids = started_pids(&results, &["api-1.log", "api-2.log"]);
    assert!(!results.join("logs/services/api-3.log").exists(), "one server per cell");
    assert_ne!(pids[0], pids[1]);
    let rows = read_runs(&results.join("runs.csv"));
    assert!(rows.iter().all(|r| r["status"] == "ok" && !r["service_api_cpu_s"].is_empty()), "{rows:?}");
    assert_eq!(marked(&marker), []);
    assert!(!stderr(&output).contains("started again"), "{}", stderr(&output));

    // The same cells interleaved would restart the server before nearly every run: a warning says so.
    let (_dir, file) = write_inline("per_cell", &text.replace("order = \"sequential\"", ""));
    let validated = support::harness().arg("validate").arg(&file).output().unwrap();
    let printed = String::from_utf8_lossy(&validated.stderr);
    assert_eq!(validated.status.code(), Some(0), "{printed}");
    assert!(printed.contains("service `api` has scope = \"cell\" and 2 cells need it"), "{printed}");
}

#[test]
fn a_service_that_exits_mid_experiment_fails_the_run_and_stops_the_experiment() {
    let services =
        "[services.flaky]\ncommand = \"echo up; sleep 1; echo going down; exit 3\"\nready = { log = \"up\" }\n";
    let text = experiment("flaky", "repetitions = 30\nwarmup = 0", services, "{ sleep = \"300ms\" }");
    let (_dir, results, output, marker) = run("flaky", &text);
    let printed = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(printed.contains("the experiment stopped: service `flaky` exited with code 3"), "{printed}");
    let rows = read_runs(&results.join("runs.csv"));
    assert!(rows.len() < 30, "the experiment went on: {} rows", rows.len());
    let last = rows.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(last["error"].contains("exited with code 3") && last["error"].contains("going down"), "{last:?}");
    assert!(rows[..rows.len() - 1].iter().all(|r| r["status"] == "ok"), "{rows:?}");
    // What was measured is summarized.
    assert!(results.join("summary.csv").exists());
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_service_that_never_gets_ready_is_an_error_naming_its_probe_and_log() {
    let services =
        "[services.mute]\ncommand = [\"sh\", \"-c\", \"echo listening soon; exec sleep 60\"]\nready_timeout = \"1s\"\n";
    let text = experiment("mute", "repetitions = 1\nwarmup = 0", services, "{ sleep = \"1ms\" }");
    let (_dir, results, output, marker) = run("mute", &text);
    let printed = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(printed.contains("service `mute` was not ready after 1s: its probe { tcp = \"127.0.0.1:"), "{printed}");
    assert!(printed.contains("logs/services/mute.log, ending: listening soon"), "{printed}");
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_service_outlives_a_timed_out_run_and_not_the_experiment() {
    let text = experiment("timeout", "repetitions = 2\nwarmup = 0\ntimeout = \"1s\"", API, "{ sleep = \"1h\" }");
    let (_dir, results, output, marker) = run("timeout", &text);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.iter().map(|r| r["status"].as_str()).collect::<Vec<_>>(), ["timeout", "timeout"]);
    // Both runs had the same server: a run's timeout is not the service's.
    assert_eq!(started_pids(&results, &["api.log"]).len(), 1);
    assert_eq!(marked(&marker), []);
}

/// Starts an experiment whose runs sleep long, and waits until its service listens.
fn started_and_serving(name: &str) -> (tempfile::TempDir, Child, String) {
    started_with_service(
        name,
        "[services.api]\ncommand = [\"python3\", \"-m\", \"http.server\", \"${port}\", \"--bind\", \"127.0.0.1\"]\n",
    )
}

/// Starts an experiment with `services` (one of which runs `http.server`) whose runs sleep long, and
/// waits until it listens.
fn started_with_service(name: &str, services: &str) -> (tempfile::TempDir, Child, String) {
    let marker = unique_marker(name);
    let (dir, file) =
        write_inline(name, &experiment(name, "repetitions = 1\nwarmup = 0", services, "{ sleep = \"1h\" }"));
    let harness = support::start_marked(&marker, &file, &dir.path().join("out"));
    wait_until("the service and the run are up", || {
        let procs = marked(&marker);
        procs.iter().any(|(_, _, cmd)| cmd.contains("http.server"))
            && procs.iter().any(|(pid, _, cmd)| support::is_run_process(*pid, cmd))
    });
    (dir, harness, marker)
}

#[test]
fn ctrl_c_stops_the_services() {
    let (_dir, harness, marker) = started_and_serving("ctrl_c");
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(harness.id() as i32, libc::SIGINT) };
    let output = harness.wait_with_output().unwrap();
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(marked(&marker), []);
}

#[test]
fn no_service_survives_kill_9_of_the_harness() {
    let (_dir, mut harness, marker) = started_and_serving("kill_9");
    harness.kill().unwrap();
    harness.wait().unwrap();
    wait_until("every process of the killed harness is gone", || marked(&marker).is_empty());
}

/// What a service starts in its process group (as nginx starts its workers) dies with a harness killed
/// with `kill -9` too: the service's own process has `PR_SET_PDEATHSIG`, which its children do not inherit.
#[test]
fn a_services_own_processes_do_not_survive_kill_9_of_the_harness() {
    let services = "[services.api]\ncommand = \"sleep 3600 & exec python3 -m http.server ${port} --bind 127.0.0.1\"\n";
    let (_dir, mut harness, marker) = started_with_service("kill_9_children", services);
    assert!(marked(&marker).iter().any(|(_, _, cmd)| cmd.starts_with("sleep")), "{:?}", marked(&marker));
    harness.kill().unwrap();
    harness.wait().unwrap();
    wait_until("every process of the killed harness is gone", || marked(&marker).is_empty());
}

const REDIS: &str = r#"
[services.redis]
command = ["redis-server", "--port", "${port}", "--save", "", "--appendonly", "no"]
ready = { log = "Ready to accept" }
"#;

#[test]
fn the_redis_counter_is_exact_under_every_executor_with_8_workers() {
    redis_server();
    let text = format!(
        "[experiment]\nname = \"redis_counter\"\nrepetitions = 1\nwarmup = 0\n{REDIS}\n\
         [workloads.default_store]\ntasks = 400\nsteps = [{{ shared = {{ store = \"redis\", hold = \"50us\" }} }}]\n\n\
         [workloads.by_url]\ntasks = 400\nsteps = [{{ shared = {{ store = \"redis\", url = \"redis://127.0.0.1:${{services.redis.port}}/\" }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [8]\nworkload = [\"default_store\", \"by_url\"]\n"
    );
    let (_dir, results, output, marker) = run("redis_counter", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 8);
    for row in &rows {
        // The harness checks the count exactly; a lost increment would have failed the run.
        assert_eq!((row["status"].as_str(), row["shared_count"].as_str()), ("ok", "400"), "{row:?}");
        assert!(!row["service_redis_cpu_s"].is_empty(), "{row:?}");
    }
    assert_eq!(marked(&marker), []);
}

#[test]
fn without_a_lock_threads_lose_increments_and_sync_loses_none() {
    redis_server();
    let text = format!(
        "[experiment]\nname = \"racy\"\nrepetitions = 1\nwarmup = 0\n{REDIS}\n\
         [workloads.memory]\ntasks = 20000\nsteps = [{{ shared = {{ lock = \"none\" }} }}]\n\n\
         [workloads.redis]\ntasks = 2000\nsteps = [{{ shared = {{ store = \"redis\", lock = \"none\" }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\"]\nworkers = [8]\nworkload = [\"memory\", \"redis\"]\n"
    );
    let (_dir, results, output, _marker) = run("racy", &text);
    assert_eq!(output.status.code(), Some(0), "lost increments are a result, not a failure: {}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    for row in &rows {
        let tasks: u64 = row["tasks"].parse().unwrap();
        let (count, lost): (u64, u64) = (row["shared_count"].parse().unwrap(), row["shared_lost"].parse().unwrap());
        assert_eq!(count + lost, tasks, "{row:?}");
        match row["executor"].as_str() {
            "sync" => assert_eq!(lost, 0, "one task at a time loses nothing: {row:?}"),
            _ => assert!(lost > 0, "8 threads racing lost nothing: {row:?}"),
        }
    }
    let summary = std::fs::read_to_string(results.join("summary.csv")).unwrap();
    assert!(summary.lines().any(|l| l.split(',').any(|f| f == "shared_lost")), "{summary}");
}

#[test]
fn redis_steps_fold_the_replies_alike_under_every_executor() {
    redis_server();
    // A fresh server for every run, so every run sees the same replies.
    let text = format!(
        "[experiment]\nname = \"redis_steps\"\nrepetitions = 1\nwarmup = 0\n{REDIS}scope = \"run\"\n\n\
         [workloads.w]\ntasks = 300\nsteps = [{{ redis = [\"INCRBY\", \"k-${{task}}\", \"${{task}}\"] }}, \
         {{ redis = {{ command = [\"GET\", \"k-${{task}}\"], url = \"redis://127.0.0.1:${{services.redis.port}}/\" }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [4]\n"
    );
    let (_dir, results, output, marker) = run("redis_steps", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["checksum"] == rows[0]["checksum"]), "{rows:?}");
    // The replies are each task's own number: another command gives another checksum.
    let other = text.replace("\"${task}\"] }", "\"7\"] }").replace("redis_steps", "redis_steps_7");
    let (_dir, results, output, _) = run("redis_steps_7", &other);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let changed = read_runs(&results.join("runs.csv"));
    assert_ne!(changed[0]["checksum"], rows[0]["checksum"]);
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_workloads_hooks_reach_a_service_by_its_port() {
    redis_server();
    // `prepare` sets the key the step reads and `conclude` deletes it: each through the service's port.
    let cli = |words: &str| format!("[\"redis-cli\", \"-p\", \"${{services.redis.port}}\", {words}]");
    let text = format!(
        "[experiment]\nname = \"hooks_port\"\nrepetitions = 2\nwarmup = 0\n{REDIS}\n\
         [workloads.w]\ntasks = 1\nsteps = [{{ redis = [\"GET\", \"hooked\"] }}]\n\
         prepare = {}\nconclude = {}\n\n[matrix]\nexecutor = [\"sync\"]\n",
        cli("\"SET\", \"hooked\", \"by prepare\""),
        cli("\"DEL\", \"hooked\""),
    );
    let (_dir, results, output, marker) = run("hooks_port", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    for repetition in 1..=2 {
        let log = std::fs::read_to_string(results.join(format!("logs/cell-1-rep-{repetition}.log"))).unwrap();
        // redis-cli's replies: OK to the SET, 1 (one key deleted) to the DEL, so the step found the key.
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.iter().any(|l| l.starts_with("[prepare] redis-cli -p ")), "{log}");
        assert!(lines.contains(&"OK") && lines.contains(&"1"), "{log}");
    }
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_redis_command_slower_than_half_a_second_succeeds_under_every_executor() {
    redis_server();
    // BLPOP on an empty list waits its whole timeout, 0.7 s, and answers nil: slower than the client
    // library's own default of 500 ms for an answer, which the run's timeout replaces.
    let text = format!(
        "[experiment]\nname = \"slow_redis\"\nrepetitions = 1\nwarmup = 0\ntimeout = \"30s\"\n{REDIS}\n\
         [workloads.w]\ntasks = 2\nsteps = [{{ redis = [\"BLPOP\", \"empty-${{task}}\", \"0.7\"] }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"async\"]\nworkers = [2]\n"
    );
    let (_dir, results, output, marker) = run("slow_redis", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    assert_eq!(marked(&marker), []);
}

#[test]
fn an_http_step_that_fails_says_why_in_the_same_words_under_every_executor() {
    // A port nobody listens on: the listener is closed before the run.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // And a server that answers something that is not HTTP.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    let answering = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in garbage.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HELLO THERE\r\n\r\n");
        }
    });
    let text = format!(
        "[experiment]\nname = \"http_errors\"\nrepetitions = 1\nwarmup = 0\n\n\
         [workloads.refused]\ntasks = 1\nsteps = [{{ http = {{ url = \"http://127.0.0.1:{port}/\" }} }}]\n\n\
         [workloads.garbage]\ntasks = 1\nsteps = [{{ http = {{ url = \"http://127.0.0.1:{garbage_port}/\" }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"async\"]\nworkload = [\"refused\", \"garbage\"]\n"
    );
    let (_dir, results, output, _marker) = run("http_errors", &text);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    answering.join().unwrap();
    let rows = read_runs(&results.join("runs.csv"));
    let error = |executor: &str, workload: &str| {
        rows.iter().find(|r| r["executor"] == executor && r["workload"] == workload).unwrap()["error"].clone()
    };
    for workload in ["refused", "garbage"] {
        let (sync, async_) = (error("sync", workload), error("async", workload));
        assert!(!async_.contains("client error"), "{async_}");
        if workload == "refused" {
            assert!(sync.contains("Connection refused"), "{sync}");
            assert_eq!(sync, async_);
        }
        assert!(!sync.is_empty() && !async_.is_empty());
    }
}

#[test]
fn a_services_processes_are_its_own_until_it_stops_and_its_log_may_hold_any_byte() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("helper.pid");
    // The service forks a helper twice over, into a session of its own, then says it is ready after a
    // byte that is not UTF-8. Every run checks that the helper still lives.
    let text = format!(
        "[experiment]\nname = \"helper\"\nrepetitions = 3\nwarmup = 0\n\n\
         [services.api]\ncommand = \"(setsid sh -c 'echo $$ > {pid}; exec sleep 600' &) ; printf '\\\\377 x\\\\nready\\\\n'; exec sleep 600\"\n\
         ready = {{ log = \"ready\" }}\nready_timeout = \"10s\"\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{{ exec = \"kill -0 $(cat {pid})\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\n",
        pid = pid_file.display()
    );
    let (_dir, results, output, _marker) = run("helper", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert!(rows.len() == 3 && rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    // Stopped with its service.
    let helper = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    wait_until("the helper is gone", || !Path::new(&format!("/proc/{helper}")).exists());
}

#[test]
fn a_tcp_probe_answered_by_another_process_is_not_the_service() {
    // The port the probe tries is held by this test; the service never listens on it.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let text = format!(
        "[experiment]\nname = \"squatted\"\nrepetitions = 1\nwarmup = 0\n\n\
         [services.api]\ncommand = [\"sleep\", \"600\"]\nready = {{ tcp = \"127.0.0.1:{port}\" }}\nready_timeout = \"2s\"\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{{ sleep = \"1ms\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\n"
    );
    let (_dir, _results, output, marker) = run("squatted", &text);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("was not ready after 2s"), "{message}");
    assert!(message.contains(&format!("port {port} is held by another process")), "{message}");
    assert_eq!(marked(&marker), []);
    drop(held);
}

/// The HTTP service of `experiments/services.toml`; `args` are its arguments after the port: the seconds it
/// waits before it answers, and optionally the CPU seconds it spins for.
fn http_service(args: &str) -> String {
    let script = support::root().join("experiments/http_service.py");
    let args: Vec<String> = args.split(' ').map(|a| format!(", \"{a}\"")).collect();
    format!(
        "[services.api]\ncommand = [\"python3\", \"{}\", \"${{port}}\"{}]\nready = {{ http = \"http://127.0.0.1:${{port}}/\" }}\n",
        script.display(),
        args.concat()
    )
}

#[test]
fn http_steps_agree_under_every_executor_and_a_wrong_status_fails_the_run() {
    let text = format!(
        "[experiment]\nname = \"http_steps\"\nrepetitions = 1\nwarmup = 0\n{}\n\
         [workloads.get]\ntasks = 60\nsteps = [{{ http = {{ url = \"http://127.0.0.1:${{services.api.port}}/items/${{task}}\" }} }}]\n\n\
         [workloads.post]\ntasks = 60\nsteps = [{{ http = {{ url = \"http://127.0.0.1:${{services.api.port}}/items\", method = \"POST\", \
         body = {{ size = \"4KiB\" }}, headers = {{ X-Test = \"1\" }}, connect = \"per_request\", expect = [200] }} }}]\n\n\
         [workloads.status]\ntasks = 60\nsteps = [{{ http = {{ url = \"http://127.0.0.1:${{services.api.port}}/${{task}}\", checksum = \"status\" }} }}]\n\n\
         [workloads.wrong]\ntasks = 3\nsteps = [{{ http = {{ url = \"http://127.0.0.1:${{services.api.port}}/\", expect = [201] }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [4]\n\
         workload = [\"get\", \"post\", \"status\", \"wrong\"]\n",
        http_service("0.001")
    );
    let (_dir, results, output, marker) = run("http_steps", &text);
    assert_eq!(output.status.code(), Some(1), "the `wrong` runs fail: {}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    let of = |workload: &str| rows.iter().filter(|r| r["workload"] == workload).collect::<Vec<_>>();
    for workload in ["get", "post", "status"] {
        let runs = of(workload);
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| r["status"] == "ok" && r["checksum"] == runs[0]["checksum"]), "{runs:?}");
    }
    // The body names the path, so GETs of different paths differ; with `checksum = "status"` only the 200s count.
    assert_ne!(of("get")[0]["checksum"], of("status")[0]["checksum"]);
    for run in of("wrong") {
        assert_eq!(run["status"], "failed");
        assert!(run["error"].contains("answered 200, expected [201]"), "{run:?}");
    }
    assert_eq!(marked(&marker), []);
}

#[test]
fn services_and_custom_metrics_share_runs_csv_from_a_file_named_without_a_folder() {
    let text = format!(
        "[experiment]\nname = \"both\"\nrepetitions = 2\nwarmup = 0\n\n\
         [services.redis]\ncommand = [\"{}\", \"--port\", \"${{port}}\", \"--save\", \"\", \"--appendonly\", \"no\"]\n\n\
         [workloads.w]\ntasks = 4\nsteps = [{{ redis = [\"INCR\", \"k-${{task}}\"] }}, {{ exec = \"echo v: 3\" }}]\n\
         metrics.v = {{ regex = 'v: ([0-9]+)', better = \"higher\" }}\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\"]\n",
        redis_server()
    );
    let marker = unique_marker("both");
    let (dir, _file) = write_inline("both", &text);
    // `both.toml`, without a folder: the service runs in the current one.
    let output = support::harness()
        .current_dir(dir.path())
        .args(["run", "--quiet", "--out", "out", "both.toml"])
        .env("HARNESS_TEST_MARKER", &marker)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = dir.path().join("out/both/latest");
    let runs = std::fs::read_to_string(results.join("runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    // The catalog's columns, then the custom metrics, then the services', then `error`.
    assert_eq!(
        header[header.len() - 5..],
        ["probe", "v", "service_redis_cpu_s", "service_redis_peak_memory_bytes", "error"]
    );
    for row in read_runs(&results.join("runs.csv")) {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert!((row["v"].parse::<f64>().unwrap() - 3.0).abs() < 1e-9, "{row:?}");
        assert!(row["service_redis_peak_memory_bytes"].parse::<u64>().unwrap() > 0, "{row:?}");
    }
    let summary = std::fs::read_to_string(results.join("summary.csv")).unwrap();
    for metric in ["v", "service_redis_cpu_s", "service_redis_peak_memory_bytes"] {
        assert_eq!(summary.lines().filter(|l| l.contains(&format!(",{metric},"))).count(), 2, "{metric}: {summary}");
    }
    assert_eq!(marked(&marker), []);
}

#[test]
fn http_steps_to_the_built_in_server_agree_under_every_executor_and_it_is_measured_as_a_service() {
    let loopback = "http://127.0.0.1:${services.loopback.port}";
    let text = format!(
        "[experiment]\nname = \"builtin_http\"\nrepetitions = 2\nwarmup = 0\n\n\
         [workloads.get]\ntasks = 80\nsteps = [{{ http = {{ url = \"{loopback}/wait/1ms/bytes/4KiB?task=${{task}}\" }} }}]\n\n\
         [workloads.post]\ntasks = 80\nsteps = [{{ http = {{ url = \"{loopback}/wait/0s/bytes/4096\", method = \"POST\", \
         body = {{ size = \"2KiB\" }}, connect = \"per_request\", expect = [200] }} }}]\n\n\
         [workloads.other_bytes]\ntasks = 80\nsteps = [{{ http = {{ url = \"{loopback}/wait/1ms/bytes/4097\" }} }}]\n\n\
         [workloads.net]\ntasks = 80\nsteps = [{{ net = {{ response = \"4KiB\", delay = \"1ms\" }} }}]\n\n\
         [workloads.nap]\ntasks = 4\nsteps = [{{ sleep = \"1ms\" }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [4]\n\
         workload = [\"get\", \"post\", \"other_bytes\", \"net\", \"nap\"]\n\n\
         [[charts]]\ntitle = \"Loopback server CPU\"\nx = \"executor\"\ny = \"service_loopback_cpu_s\"\nfilter = {{ workload = \"get\" }}\n"
    );
    let (_dir, results, output, marker) = run("builtin_http", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 4 * 5 * 2);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let checksums = |workload: &str| {
        let mut sums: Vec<&str> =
            rows.iter().filter(|r| r["workload"] == workload).map(|r| r["checksum"].as_str()).collect();
        sums.dedup();
        sums
    };
    // The same bytes give the same checksum under every executor, whatever the method, the body sent or
    // the connections; one byte more gives another.
    assert_eq!(checksums("get").len(), 1, "{:?}", checksums("get"));
    assert_eq!(checksums("get"), checksums("post"));
    assert_eq!(checksums("other_bytes").len(), 1);
    assert_ne!(checksums("get"), checksums("other_bytes"));
    // The server is a service: measured in the runs that need it, and only in those.
    for row in &rows {
        let (cpu, peak) = (&row["service_loopback_cpu_s"], &row["service_loopback_peak_memory_bytes"]);
        if row["workload"] == "nap" {
            assert!(cpu.is_empty() && peak.is_empty(), "{row:?}");
        } else {
            assert!(cpu.parse::<f64>().unwrap() >= 0.0 && peak.parse::<u64>().unwrap() > 0, "{row:?}");
        }
    }
    let summary = std::fs::read_to_string(results.join("summary.csv")).unwrap();
    for metric in ["service_loopback_cpu_s", "service_loopback_peak_memory_bytes"] {
        assert!(summary.lines().any(|l| l.split(',').any(|f| f == metric)), "{metric} not in\n{summary}");
    }
    let charts: Vec<_> = std::fs::read_dir(results.join("charts")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(charts.iter().any(|c| c.to_string_lossy().contains("loopback")), "{charts:?}");
    // One server for the experiment, both protocols on its one port, logged and listed like any service.
    let log = std::fs::read_to_string(results.join("logs/services/loopback.log")).unwrap();
    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("environment.json")).unwrap()).unwrap();
    let services = environment["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{services:?}");
    assert_eq!((&services[0]["name"], &services[0]["builtin"]), (&"loopback".into(), &true.into()));
    assert_eq!(log.trim(), format!("the loopback server listens on 127.0.0.1:{}", services[0]["port"]));
    assert_eq!(marked(&marker), []);
}

#[test]
fn without_a_step_that_goes_to_it_the_built_in_server_is_not_started() {
    let text = experiment("no_loopback", "repetitions = 1\nwarmup = 0", "", "{ sleep = \"1ms\" }");
    let (_dir, results, output, marker) = run("no_loopback", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let runs = std::fs::read_to_string(results.join("runs.csv")).unwrap();
    assert!(!runs.lines().next().unwrap().contains("service_"), "{runs}");
    assert!(!results.join("logs/services").exists());
    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("environment.json")).unwrap()).unwrap();
    assert_eq!(environment["services"], serde_json::json!([]));
    assert_eq!(marked(&marker), []);
}

#[test]
fn the_built_in_server_dies_with_a_harness_killed_with_kill_9() {
    let marker = unique_marker("loopback_kill_9");
    let text = experiment("loopback_kill_9", "repetitions = 1\nwarmup = 0", "", "{ net = { delay = \"1h\" } }");
    let (dir, file) = write_inline("loopback_kill_9", &text);
    let mut harness = support::start_marked(&marker, &file, &dir.path().join("out"));
    wait_until("the server and the run are up", || {
        let procs = marked(&marker);
        procs.iter().any(|(_, _, cmd)| cmd.contains("__loopback"))
            && procs.iter().any(|(pid, _, cmd)| support::is_run_process(*pid, cmd))
    });
    harness.kill().unwrap();
    harness.wait().unwrap();
    wait_until("every process of the killed harness is gone", || marked(&marker).is_empty());
}

/// A step that GETs `/` of service `api`.
const GET_API: &str = "{ http = { url = \"http://127.0.0.1:${services.api.port}/\" } }";

/// The folder of this process's cgroup in the v1 cpuacct hierarchy, where there is one: the harness's
/// children inherit it, and its services' cgroups of that hierarchy are made under it.
fn own_cpuacct_cgroup() -> Option<PathBuf> {
    let memberships = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = memberships.lines().find_map(|l| {
        let mut fields = l.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == "cpuacct").then(|| path.trim_start_matches('/').to_owned())
    })?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (before, after) = l.split_once(" - ")?;
        let mut after = after.split(' ');
        let (kind, _, options) = (after.next()?, after.next()?, after.next()?);
        let wanted = kind == "cgroup" && options.split(',').any(|o| o == "cpuacct") && before.split(' ').nth(3)? == "/";
        wanted.then(|| Path::new(before.split(' ').nth(4).unwrap()).join(&path))
    })
}

#[test]
fn a_service_s_cpu_time_is_its_cgroup_s_counter_where_it_has_one() {
    // Three requests a run, each of which costs the service 20 ms of CPU time it spins for.
    let text = experiment("service_cpu", "repetitions = 3\nwarmup = 0", &http_service("0 0.02"), GET_API)
        .replace("tasks = 1", "tasks = 3");
    let marker = unique_marker("service_cpu");
    let (dir, file) = write_inline("service_cpu", &text);
    let harness = support::start_marked(&marker, &file, &dir.path().join("out"));
    let pid = harness.id();
    let output = harness.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = dir.path().join("out/service_cpu/latest");
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 3);
    let cpu: Vec<f64> = rows.iter().map(|r| r["service_api_cpu_s"].parse().unwrap()).collect();
    assert!(cpu.iter().all(|&c| c > 0.0), "every run made the service work: {cpu:?}");
    // The service's own count of its CPU time, printed as it answered: it worked in every run.
    let log = std::fs::read_to_string(results.join("logs/services/api.log")).unwrap();
    assert_eq!(log.lines().filter(|l| l.starts_with("cpu ")).count(), 9 + 1, "3 runs of 3, and the probe: {log}");
    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("environment.json")).unwrap()).unwrap();
    let method = environment["services"][0]["cpu_method"].as_str().unwrap().to_owned();
    let memory = environment["peak_memory"]["method"].as_str().unwrap();
    // The service's peak memory is its cgroup's where runs get cgroups, its processes' otherwise.
    let service_memory = environment["services"][0]["memory_method"].as_str().unwrap();
    assert_eq!(service_memory, if memory == "rusage" { "proc" } else { memory }, "{environment}");
    assert!(rows.iter().all(|r| r["service_api_peak_memory_bytes"].parse::<u64>().unwrap() > 0), "{rows:?}");
    // A counter of the service's cgroup where the harness makes cgroups and the counter is there.
    match memory {
        "cgroup2" => assert_eq!(method, "cgroup2"),
        "cgroup1" => assert!(["cgroup1", "proc"].contains(&method.as_str()), "{method}"),
        _ => assert_eq!(method, "proc", "no cgroup, no counter"),
    }
    let ticks = |c: f64| (c * 100.0 - (c * 100.0).round()).abs() < 1e-6;
    if method == "proc" {
        assert!(cpu.iter().all(|&c| ticks(c)), "/proc counts clock ticks: {cpu:?}");
    } else {
        // A count in nanoseconds or microseconds, not in ticks of 10 ms.
        assert!(!cpu.iter().all(|&c| ticks(c)), "{cpu:?}");
    }
    // The service's cgroup of the cpuacct hierarchy, removed with the others.
    if method == "cgroup1" && memory == "cgroup1" {
        if let Some(cpuacct) = own_cpuacct_cgroup() {
            let prefix = format!("harness-{pid}-");
            let left: Vec<_> = std::fs::read_dir(&cpuacct)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect();
            assert_eq!(left, Vec::<PathBuf>::new());
        }
    }
    assert_eq!(marked(&marker), []);
}

/// `files`: each start of a service of scope `run` gets a fresh folder (`${dir}`) holding its files, their
/// ports and folder in place, named in the command by `${file.NAME}`; the server serves from it, and it is
/// gone with the experiment.
#[test]
fn each_start_writes_its_files_into_a_fresh_folder_of_its_own() {
    let services = r#"
[services.web]
command = ["sh", "-c", "echo started $$; cat ${file.conf/page.txt}; echo; exec python3 -m http.server ${port} --bind 127.0.0.1 --directory ${dir}/conf"]
files = { "conf/page.txt" = { text = "port=${port} dir=${dir}" } }
ready = { http = "http://127.0.0.1:${port}/page.txt" }
ready_timeout = "20s"
scope = "run"
"#;
    let text = experiment(
        "files",
        "repetitions = 2\nwarmup = 0",
        services,
        "{ http = { url = \"http://127.0.0.1:${services.web.port}/page.txt\" } }",
    );
    let (_dir, results, output, _marker) = run("files", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let port =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(results.join("environment.json")).unwrap())
            .unwrap()["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "web")
            .unwrap()["port"]
            .to_string();
    let folders: Vec<PathBuf> = ["web-1", "web-2"]
        .iter()
        .map(|start| {
            let logs = results.join("logs/services");
            let text = std::fs::read_to_string(logs.join(format!("{start}.log"))).unwrap();
            let line = text.lines().find(|l| l.starts_with("port=")).unwrap_or_else(|| panic!("{start}: {text}"));
            // The copy kept for the user is the file as this start was given it.
            let kept = std::fs::read_to_string(logs.join(format!("{start}.files/conf/page.txt"))).unwrap();
            assert_eq!(kept, line, "{start}");
            let (written_port, folder) = line["port=".len()..].split_once(" dir=").unwrap();
            assert_eq!(written_port, port, "{start}: {text}");
            PathBuf::from(folder)
        })
        .collect();
    assert_ne!(folders[0], folders[1], "each start has a folder of its own");
    for folder in &folders {
        assert!(folder.is_absolute() && folder.starts_with(std::env::temp_dir()), "{}", folder.display());
        assert!(!folder.exists(), "{} outlived the experiment", folder.display());
    }
}

/// A service that fails on a file it was given (as nginx does on a bad directive, naming the file) is
/// reported with where the copy of its files is kept: the scratch folder its message names is gone by then.
#[test]
fn a_service_failing_on_its_files_is_told_where_their_copy_is_kept() {
    let services = r#"
[services.web]
command = ["sh", "-c", "echo \"unknown directive in ${file.conf/server.conf}:1\" >&2; exit 3"]
files = { "conf/server.conf" = { text = "lisen ${port};" } }
"#;
    let text = experiment("kept", "repetitions = 1\nwarmup = 0", services, "{ sleep = \"1ms\" }");
    let (_dir, results, output, marker) = run("kept", &text);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(marked(&marker), []);
    let kept = results.join("logs/services/web.files");
    assert!(err.contains("service `web` exited with code 3 before it was ready"), "{err}");
    assert!(err.contains("unknown directive in"), "{err}");
    assert!(err.contains("; the files it was given are kept in "), "{err}");
    assert!(err.contains("logs/services/web.files (it read them from the scratch folder"), "{err}");
    let conf = std::fs::read_to_string(kept.join("conf/server.conf")).unwrap();
    assert!(conf.starts_with("lisen ") && conf.ends_with(';') && !conf.contains("${"), "{conf}");
}

/// `experiments/nginx.toml` with a real nginx: its configuration written from the template with its port
/// and folder in place, and the 1 KiB file served to the `http` steps of every executor.
#[test]
fn nginx_configured_by_its_template_serves_every_executor() {
    if !crate::executors::has_nginx() {
        eprintln!("skipped: nginx is not installed (`apt-get install nginx-light`; .ci/run installs it)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let output = support::harness()
        .current_dir(support::root())
        .args(["run", "experiments/nginx.toml", "--quiet", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = out.path().join("nginx/latest");
    let rows = read_runs(&results.join("runs.csv"));
    let mut executors: Vec<&str> = rows.iter().map(|r| r["executor"].as_str()).collect();
    executors.sort_unstable();
    executors.dedup();
    assert_eq!(executors, ["async", "multiprocess", "sync", "threaded"]);
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        // The same status and body for every request of every run: the file, not an error page.
        assert_eq!(row["checksum"], rows[0]["checksum"], "{row:?}");
        assert!(!row["service_nginx_cpu_s"].is_empty(), "{row:?}");
    }
    let log = std::fs::read_to_string(results.join("logs/services/nginx.log")).unwrap_or_default();
    assert!(!log.contains("[emerg]") && !log.contains("[crit]"), "{log}");
}

#[test]
fn an_answer_framed_by_length_by_chunks_or_by_the_end_of_the_connection_is_the_same_answer() {
    let script = support::root().join("harness/tests/fixtures/http_framings.py");
    let mut workloads = String::new();
    for path in ["length", "chunked", "close"] {
        use std::fmt::Write as _;
        write!(
            workloads,
            "[workloads.{path}]\ntasks = 20\n\
             steps = [{{ http = {{ url = \"http://127.0.0.1:${{services.api.port}}/{path}\" }} }}]\n\n"
        )
        .unwrap();
    }
    let text = format!(
        "[experiment]\nname = \"framings\"\nrepetitions = 1\nwarmup = 0\n\n\
         [services.api]\ncommand = [\"python3\", \"{}\", \"${{port}}\"]\n\n{workloads}\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [2]\n\
         workload = [\"length\", \"chunked\", \"close\"]\n",
        script.display()
    );
    let (_dir, results, output, marker) = run("framings", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 12);
    // The same body, however it was framed and whoever read it: the same checksum.
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["checksum"] == rows[0]["checksum"]), "{rows:?}");
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_redis_url_with_a_password_and_a_database_reaches_that_database_under_every_executor() {
    // A fresh server per run, which wants a password: a command without it fails with NOAUTH. Each run's
    // one task counts in database 3, then `redis-cli` reads the counter there: 1 when the step selected
    // database 3, nothing (and no metric) when it counted elsewhere.
    let text = format!(
        "[experiment]\nname = \"databases\"\nrepetitions = 1\nwarmup = 0\n\n\
         [services.redis]\nscope = \"run\"\n\
         command = [\"{}\", \"--port\", \"${{port}}\", \"--save\", \"\", \"--appendonly\", \"no\", \"--requirepass\", \"s3cret\"]\n\n\
         [workloads.w]\ntasks = 1\n\
         steps = [{{ redis = {{ command = [\"INCR\", \"n\"], url = \"redis://:s3cret@127.0.0.1:${{services.redis.port}}/3\" }} }}, \
         {{ exec = \"redis-cli -p ${{services.redis.port}} -a s3cret --no-auth-warning -n 3 GET n\" }}]\n\
         metrics.counted = {{ regex = '(?m)^([0-9]+)$', better = \"higher\" }}\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [1]\n",
        redis_server()
    );
    let (_dir, results, output, marker) = run("databases", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!((row["status"].as_str(), row["counted"].as_str()), ("ok", "1.000000000"), "{row:?}");
    }
    assert_eq!(marked(&marker), []);
}

#[test]
fn steps_to_two_servers_keep_each_server_s_connections_under_every_executor() {
    // Each task asks the built-in server, then the file's own: a connection of one, handed to a step for
    // the other, would bring the other's answer, and a checksum of its own.
    let text = format!(
        "[experiment]\nname = \"two_servers\"\nrepetitions = 1\nwarmup = 0\n{}\n\
         [workloads.w]\ntasks = 60\nsteps = [{{ http = {{ url = \"http://127.0.0.1:${{services.loopback.port}}/wait/0s/bytes/64\" }} }}, \
         {{ http = {{ url = \"http://127.0.0.1:${{services.api.port}}/wait/0s/bytes/64\" }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\", \"threaded\", \"async\", \"multiprocess\"]\nworkers = [4]\n",
        http_service("0")
    );
    let (_dir, results, output, marker) = run("two_servers", &text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_runs(&results.join("runs.csv"));
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["checksum"] == rows[0]["checksum"]), "{rows:?}");
    assert_eq!(marked(&marker), []);
}

/// A service that puts itself in the background (its command exits 0 at once, leaving a child) fails the
/// experiment with a hint to keep it in the foreground, and leaves nothing running.
#[test]
fn a_service_that_goes_to_the_background_is_told_to_stay_in_the_foreground() {
    let text = "[experiment]\nname = \"daemon\"\nrepetitions = 1\nwarmup = 0\n\n\
        [services.web]\ncommand = [\"sh\", \"-c\", \"sleep 300 & exit 0\"]\n\n\
        [workloads.w]\ntasks = 1\nsteps = [{ sleep = \"1ms\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n";
    let (_dir, _results, output, marker) = run("daemon", text);
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(stderr.contains("service `web` exited with code 0"), "{stderr}");
    assert!(stderr.contains("a service must stay in the foreground"), "{stderr}");
    wait_until("the service's background process is gone", || marked(&marker).is_empty());
}
