//! Integration tests: the `harness` binary on real experiment files, with real plugins loaded from disk,
//! real child processes, files and sockets.
//!
//! - `bad_input`: every fixture in `tests/fixtures/bad/` fails with its exact message and exit code 2.
//! - `checksums`: checksums compared within a cell and across executors: warned, failed, or left alone.
//! - `connections`: the connections each executor opens to a real `redis-server` and nginx, counted by the
//!   servers; the load each cell drew in the summary, the report and the charts.
//! - `cli`: `run`, `validate`, `plan`, `list`, `schema` on the files in `experiments/`.
//! - `executors`: the built-in executors agree on every step kind.
//! - `faults`: plugins that panic, abort, crash, exit, hang, fork or run out of memory end only their run.
//! - `layers`: the modules of `harness/src` import only their own layer and those below, without cycles.
//! - `lifecycle`: no process outlives its run: normal end, timeout, crash, `kill -9` of the harness.
//! - `folders`: result folders as input: symbolic links, FIFOs, bounds, no code run from them.
//! - `net`: the `net` step against the loopback server: every round trip waits for its answer, and its accept
//!   queue holds every connection a run opens at once.
//! - `open`: open workloads: the same schedule everywhere, no start before due, drops counted, the load chart.
//! - `gate`: `compare`, `run --baseline`, the `[ci]` table and the exports.
//! - `history`: `run --history`, `history add`, `report` and `check` on histories of generated commits; appends
//!   killed or made at once; a merged folder of shards.
//! - `instructions`: `instructions = true` on two builds of a C program made in the test, under Valgrind.
//! - `paired`: the paired gate on two builds of a program made in the test, and a range of repetitions.
//! - `plugins`: discovery, precedence, ABI checks.
//! - `probes`: which file a library's name means, and libraries that block, flood or detach when loaded.
//! - `programs`: `exec` and `call` steps, hooks and custom metrics with real programs and step libraries, under
//!   every executor.
//! - `out_of_tree`: builds the executor of `docs/writing-an-executor.md` and the step library of
//!   `docs/writing-a-step-library.md` outside the workspace and runs them.
//! - `report`: charts and reports from fixture result folders, and from `harness run`.
//! - `robustness`: closed output streams, huge matrices and counts, damaged result folders.
//! - `scale`: shards, merge, resume after Ctrl-C and `kill -9`.
//! - `search`: the highest rate within a latency objective: probes in runs.csv, the bracket in summary.csv,
//!   the rate chart, `compare`, and no `--resume`.
//! - `services`: `[services]` with real servers: readiness, ports, logs, scopes, crashes, and no survivors.
//! - `slurm`: `scripts/slurm/harness-array.sbatch` on a real Slurm cluster (skipped when there is none).
//! - `spawn`: runs as copies of a fork server or through `__exec`, and the fallback for a plugin with threads.
//! - `support`: shared helpers.
//! - `tails`: latency histograms per run, percentiles over every task of a cell, and their readers.
//! - `waits`: the warning on waits shorter than an executor keeps precise.

mod bad_input;
mod checksums;
mod cli;
mod connections;
mod executors;
mod faults;
mod folders;
mod gate;
mod history;
mod instructions;
mod layers;
mod lifecycle;
mod net;
mod open;
mod out_of_tree;
mod paired;
mod plugins;
mod probes;
mod programs;
mod report;
mod robustness;
mod scale;
mod search;
mod services;
mod slurm;
mod spawn;
mod support;
mod tails;
mod waits;
