//! Errors of the core: the kind tells the binding which JavaScript error class to throw.

use std::fmt;

/// A failed precondition. `Type` is a wrong kind or shape of argument, `Range` a value outside
/// what is allowed. The message names the argument and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Type(String),
    Range(String),
    /// The call was stopped by its cancellation token ([`crate::kernels::cancel::Cancel`]).
    Cancelled,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn range(msg: impl Into<String>) -> Self {
        Error::Range(msg.into())
    }
    pub fn type_(msg: impl Into<String>) -> Self {
        Error::Type(msg.into())
    }
    pub fn message(&self) -> &str {
        match self {
            Error::Type(m) | Error::Range(m) => m,
            Error::Cancelled => "the operation was cancelled",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Type(m) => write!(f, "TypeError: {m}"),
            Error::Range(m) => write!(f, "RangeError: {m}"),
            Error::Cancelled => write!(f, "AbortError: the operation was cancelled"),
        }
    }
}

impl std::error::Error for Error {}

/// `Ok(())` when `cond` holds, else a range error built from `msg`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::Range(msg()))
    }
}
