//! A plugin that misbehaves on purpose, in the way its `fault` option names, so the tests can check that
//! each fault ends its own run with the right status and message, and nothing else.
//!
//! Processes it starts write a file named `<fault>-<pid>` into `$FAULTY_PID_DIR` (when set), so a test can
//! check that none of them outlived the run. `gate` waits for `$FAULTY_GATE` to exist (and writes
//! `$FAULTY_GATE.waiting` first), so a test can act between two runs of one experiment. `negative_run_s`,
//! `negative_setup_s` and `bad_percentiles` run the workload and report numbers that are not times.
//! `$FAULTY_OPTIONS`, read when the plugin describes itself, makes it declare a bad option instead:
//! `reserved` (an option named `workers`), `service_column` (one named like a service's column of `runs.csv`),
//! `default_type` (a default of another type), `default_choice` (a default that is not one of its choices).
//! `$FAULTY_LOAD_THREAD`, when set, makes it start a thread the moment it is loaded (from an initialiser), as
//! a plugin with a global runtime would: such a library cannot be copied by a fork server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::workload::{Prepared, SharedMode, Tally, WorkerState};

pub struct Faulty;

/// Runs when the library is loaded, before anything of it is called: see `$FAULTY_LOAD_THREAD`.
extern "C" fn on_load() {
    if std::env::var_os("FAULTY_LOAD_THREAD").is_some() {
        std::thread::spawn(|| {
            loop {
                std::thread::park();
            }
        });
    }
}

/// An entry of the ELF `.init_array`: the loader calls it when it loads the library.
#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn() = on_load;

const FAULTS: &[&str] = &[
    "none",
    "error",
    "panic",
    "abort",
    "segfault",
    "exit",
    "hang",
    "allocate",
    "fork_hang",
    "orphan",
    "gate",
    "flood",
    "negative_run_s",
    "negative_setup_s",
    "bad_percentiles",
];

impl harness_sdk::Executor for Faulty {
    const NAME: &'static str = "faulty";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "misbehaves as its `fault` option says (a test plugin)";

    fn options() -> Vec<OptionSpec> {
        let mut options = vec![OptionSpec::choice("fault", FAULTS, "none", "how to misbehave")];
        match std::env::var("FAULTY_OPTIONS").as_deref() {
            Ok("reserved") => options.push(OptionSpec::integer("workers", 1, Some(1), "a name the harness keeps")),
            Ok("service_column") => {
                options.push(OptionSpec::integer("service_api_cpu_s", 1, Some(1), "named like a service's column"));
            }
            Ok("default_type") => {
                let mut bad = OptionSpec::integer("depth", 1, Some(1), "an integer defaulting to a string");
                bad.default = "deep".into();
                options.push(bad);
            }
            Ok("default_choice") => options.push(OptionSpec::choice("mode", &["a", "b"], "c", "c is no choice")),
            _ => {}
        }
        options
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let fault = request.option_str("fault").unwrap_or("none");
        match fault {
            "none" => run_workload(request),
            "error" => Err("the faulty plugin failed on purpose".into()),
            "panic" => panic!("the faulty plugin panicked on purpose"),
            "abort" => std::process::abort(),
            "segfault" => {
                // Non-null and aligned, so no debug check catches it first; nothing is mapped there.
                let address = std::hint::black_box(16usize) as *mut u32;
                // SAFETY: none; the point is the SIGSEGV.
                unsafe { address.write_volatile(1) };
                unreachable!("writing to address 16 did not fault")
            }
            "exit" => std::process::exit(3),
            "hang" => hang(),
            "allocate" => allocate(),
            "fork_hang" => {
                spawn_escapee(fault);
                note_pid(fault);
                hang()
            }
            "orphan" => {
                spawn_escapee(fault);
                run_workload(request)
            }
            "gate" => {
                let gate = PathBuf::from(std::env::var_os("FAULTY_GATE").ok_or("FAULTY_GATE is not set")?);
                std::fs::write(gate.with_extension("waiting"), b"")?;
                while !gate.exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                run_workload(request)
            }
            "flood" => flood(),
            "negative_run_s" => run_workload(request).map(|mut r| {
                r.run_s = -1.0;
                r
            }),
            "negative_setup_s" => run_workload(request).map(|mut r| {
                r.setup_s = -1.0;
                r
            }),
            "bad_percentiles" => run_workload(request).map(|mut r| {
                r.latency.p90_s = r.latency.p99_s + 1.0;
                r
            }),
            other => Err(format!("unknown fault `{other}`").into()),
        }
    }
}

harness_sdk::export_executor!(Faulty);

/// What `sync` does: every task in turn on this thread.
fn run_workload(request: &RunRequest) -> harness_sdk::Result<RunReport> {
    let workload = Prepared::new(request, SharedMode::Memory)?;
    let mut tally = Tally::default();
    let start = Instant::now();
    workload.run_range(0..workload.tasks, &mut WorkerState::default(), &mut tally)?;
    Ok(harness_sdk::report(0.0, start.elapsed(), &tally, workload.shared_count()?))
}

fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Touches memory a mebibyte at a time and never gives it back.
fn allocate() -> harness_sdk::Result<RunReport> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    for _ in 0..(64 << 10) {
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        hoard.push(std::hint::black_box(chunk));
    }
    Err("allocated 64GiB and nothing stopped it".into())
}

/// Forks a process that leaves the run's process group and session, does not ask to die with its
/// parent, and sleeps forever: only a harness that tracks the whole tree can end it. Returns once the
/// process has noted its pid, so a test always knows it.
fn spawn_escapee(fault: &str) {
    let mut fds = [0; 2];
    // SAFETY: pipe fills two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe failed");
    // SAFETY: the run's process has no other thread (the harness starts none before `run`).
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: setsid has no preconditions; the write end is ours.
            unsafe { libc::setsid() };
            note_pid(&format!("{fault}-child"));
            // SAFETY: writing one byte from a live buffer to our end of the pipe.
            unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
            hang()
        }
        -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
        _ => {
            let mut byte = 0u8;
            // SAFETY: reading one byte into a live buffer from our end of the pipe.
            unsafe { libc::read(fds[0], (&raw mut byte).cast(), 1) };
        }
    }
}

fn note_pid(what: &str) {
    if let Some(dir) = std::env::var_os("FAULTY_PID_DIR") {
        let path = PathBuf::from(dir).join(format!("{what}-{}", std::process::id()));
        std::fs::write(path, b"").expect("the pid folder is writable");
    }
}

/// Prints 8 MiB on one line (far more than the end of a log the harness reads), then its last words, and
/// aborts.
fn flood() -> ! {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let line = vec![b'x'; 64 * 1024];
    for _ in 0..128 {
        let _ = out.write_all(&line);
    }
    let _ = out.write_all(b" the last words of the flood\n");
    let _ = out.flush();
    std::process::abort()
}
