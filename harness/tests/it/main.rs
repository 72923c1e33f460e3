//! Integration tests: the `harness` binary on real experiment files, with real plugins loaded from disk,
//! real child processes, files and sockets.
//!
//! - `bad_input`: every fixture in `tests/fixtures/bad/` fails with its exact message and exit code 2.
//! - `cli`: `run`, `validate`, `plan`, `list`, `schema` on the files in `experiments/`.
//! - `executors`: the built-in executors agree on every step kind.
//! - `lifecycle`: no process outlives its run: normal end, timeout, crash, `kill -9` of the harness.
//! - `plugins`: discovery, precedence, ABI checks.
//! - `out_of_tree`: builds the executor of `docs/writing-an-executor.md` outside the workspace and runs it.
//! - `slurm`: `scripts/slurm/harness-array.sbatch` on a real Slurm cluster (skipped when there is none).
//! - `support`: shared helpers.

mod bad_input;
mod cli;
mod executors;
mod lifecycle;
mod out_of_tree;
mod plugins;
mod slurm;
mod support;
