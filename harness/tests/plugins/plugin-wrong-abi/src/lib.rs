//! A plugin built for a future ABI: the harness must refuse it before calling anything but the entry point.

use harness_sdk::abi::Descriptor;
use harness_sdk::protocol::{RunReport, RunRequest};

pub struct FromTheFuture;

impl harness_sdk::Executor for FromTheFuture {
    const NAME: &'static str = "from_the_future";
    const VERSION: &'static str = "9.0.0";
    const DESCRIPTION: &'static str = "claims ABI version 999";

    fn run(_: &RunRequest) -> harness_sdk::Result<RunReport> {
        unreachable!("the harness must not call a plugin whose ABI version differs")
    }
}

static DESCRIPTOR: Descriptor = {
    let mut d = Descriptor::new::<FromTheFuture>();
    d.abi_version = 999;
    d
};

/// The entry point, exported by hand to lie about the ABI version.
#[unsafe(no_mangle)]
pub extern "C" fn harness_executor_entry() -> *const Descriptor {
    &raw const DESCRIPTOR
}
