//! The one error of a command: bad input, which exits with code 2, or a failure, which exits with code 1.
//!
//! Bad input is found before anything is written and says where it was written and how to fix it (a
//! [`Diagnostic`]); a failure is anything that went wrong while doing the work (an [`anyhow::Error`] with
//! its context).

use std::fmt;

use crate::diagnostic::Diagnostic;

/// Bad input or a failure.
#[derive(Debug)]
pub enum Error {
    /// The files, folders or arguments given are wrong: exit code 2.
    Input(Box<Diagnostic>),
    /// The work failed: exit code 1.
    Runtime(anyhow::Error),
}

impl Error {
    /// The exit code that says which kind of error this is.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

/// Shows a diagnostic as rendered, a failure with the chain of its causes.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(d) => write!(f, "{d}"),
            Error::Runtime(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Input(Box::new(d))
    }
}

/// A failure, unless what failed was bad input found on the way (a [`Diagnostic`] in the chain: a result
/// folder locked by another harness, a symbolic link where the harness would write).
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Diagnostic>() {
            Ok(d) => Error::Input(Box::new(d)),
            Err(e) => Error::Runtime(e),
        }
    }
}

impl Error {
    /// `e` as bad input, whatever it is: for commands where what fails is the folders they were given.
    pub(crate) fn input(e: anyhow::Error) -> Self {
        match Error::from(e) {
            Error::Runtime(e) => Error::from(Diagnostic::new(format!("{e:#}"))),
            input @ Error::Input(_) => input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_exits_2_and_failure_exits_1() {
        let input = Error::from(Diagnostic::new("no such file"));
        let failure = Error::from(anyhow::anyhow!("disk full").context("cannot write runs.csv"));
        assert_eq!((input.exit_code(), failure.exit_code()), (2, 1));
        assert_eq!(input.to_string(), Diagnostic::new("no such file").to_string());
        assert_eq!(failure.to_string(), "cannot write runs.csv: disk full");
        let found_on_the_way = Error::from(anyhow::Error::new(Diagnostic::new("locked")).context("cannot resume"));
        assert_eq!(found_on_the_way.exit_code(), 2);
        assert_eq!(Error::input(anyhow::anyhow!("bad folder")).exit_code(), 2);
    }
}
