//! Errors of the core: the kind tells the binding which JavaScript error class to throw.

use std::fmt;

/// A failed precondition. `Type` is a wrong kind or shape of argument, `Range` a value outside
/// what is allowed. The message names the argument and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A wrong kind or shape of argument: a length that is not a whole number of rows, a matrix
    /// of the wrong width, sizes that disagree. The binding throws it as a JavaScript `TypeError`.
    Type(String),
    /// A value outside what is allowed: a non-finite entry, `λ ≤ 0`, a size of 0, a probability
    /// outside `[0, 1]`, a result that would overflow. The binding throws it as a `RangeError`.
    Range(String),
    /// The call was stopped by its cancellation token ([`crate::kernels::cancel::Cancel`]).
    Cancelled,
}

/// The result of every fallible entry point of the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Range`] with message `msg` (which names the argument and the allowed values).
    pub fn range(msg: impl Into<String>) -> Self {
        Error::Range(msg.into())
    }
    /// An [`Error::Type`] with message `msg` (which names the argument and the expected shape).
    pub fn type_(msg: impl Into<String>) -> Self {
        Error::Type(msg.into())
    }
    /// The message without its kind (`"the operation was cancelled"` for [`Error::Cancelled`]);
    /// [`fmt::Display`] prefixes it with `TypeError: `, `RangeError: ` or `AbortError: `.
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
