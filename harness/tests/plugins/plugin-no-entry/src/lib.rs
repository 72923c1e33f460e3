//! A valid shared library that is not a harness plugin: it exports a function, but not the entry point.

/// Something to export, under any name but the one the harness looks for.
#[unsafe(no_mangle)]
pub extern "C" fn not_a_harness_entry_point() -> i32 {
    42
}
