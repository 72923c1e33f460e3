//! How the harness describes processes: how one ended, a signal's name, the tail of what it printed (the
//! SDK's words, so that a run's programs and the harness's hooks are described alike).

pub(crate) use harness_sdk::exec::{describe_exit, last_lines, signal_name};
