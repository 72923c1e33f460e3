//! What the harness prints on its standard output and standard error.
//!
//! `println!` panics when the stream is closed (`harness plan f.toml | head -1`): these write and carry on,
//! so that a reader who stopped reading ends nothing but the output. A run whose console is gone still
//! measures, writes its results and exits with its own code.

use std::fmt;
use std::io::Write;

/// Prints to standard output; a closed or failing stream is ignored.
pub(crate) fn write_out(args: fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Prints to standard error; a closed or failing stream is ignored.
pub(crate) fn write_err(args: fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` that never panics.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};
