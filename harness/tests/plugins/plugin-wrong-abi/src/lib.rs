//! A plugin built for a future ABI, executor and step library both: the harness must refuse it before calling
//! anything but the entry point.

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

/// A step library of a future step ABI, in the same file: the probe must refuse it before calling anything.
pub struct StepsFromTheFuture;

impl harness_sdk::steplib::StepLibrary for StepsFromTheFuture {
    const FUNCTIONS: &'static [(&'static str, harness_sdk::steplib::StepFn)] = &[];
}

static STEP_DESCRIPTOR: harness_sdk::steplib::Descriptor = {
    let mut d = harness_sdk::steplib::Descriptor::new::<StepsFromTheFuture>();
    d.abi_version = 999;
    d
};

/// The step libraries' entry point, exported by hand to lie about the step ABI version.
#[unsafe(no_mangle)]
pub extern "C" fn harness_steps_entry() -> *const harness_sdk::steplib::Descriptor {
    &raw const STEP_DESCRIPTOR
}
