//! Errors of the core: a failed precondition as data — its kind, the argument it concerns (a path
//! in core terms: `x`, `params[1]`, `lambda`, `weights.wq[0]`, `init.scale`), what was expected
//! and what was got. The binding renames the argument to the JavaScript one and picks the JS error
//! class from the kind; nothing downstream parses a message.

use crate::kernels::real::Real;
use std::fmt;

/// Which rule failed: the JavaScript class the binding throws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A wrong kind or shape of argument (a `TypeError`): a length that does not match the shape,
    /// a mixture of the wrong family, a missing part.
    Type,
    /// A value outside what is allowed (a `RangeError`): `λ ≤ 0`, a non-finite entry, a count out
    /// of bounds, a result that would overflow.
    Range,
    /// The call was stopped by its cancellation token ([`crate::kernels::cancel::Cancel`]).
    Cancelled,
}

/// Which floating-point limit a [`ErrorKind::Range`] error reports, when the values themselves are
/// valid but a result left the range of its type: the caller may rescale its inputs (or widen
/// `f32` to `f64`) and retry, which a plain out-of-range argument does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Numeric {
    /// A result (a score, a sum, a squared distance) exceeded the largest finite value.
    Overflow,
    /// A result that must be positive (a denominator, a spread) rounded to zero, or to a value too
    /// small to divide by.
    Underflow,
}

impl Numeric {
    /// `"overflow"` or `"underflow"`: the `numeric` property of the JavaScript error.
    pub fn as_str(self) -> &'static str {
        match self {
            Numeric::Overflow => "overflow",
            Numeric::Underflow => "underflow",
        }
    }
}

/// A failed precondition (or a cancelled call). Its message is
/// ``"`{arg}` must be {expected}, got {got}"``: `expected` is phrased to follow "must be" and `got`
/// is the value, or the length or shape, that was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Which rule failed (the JavaScript class).
    pub kind: ErrorKind,
    /// The argument, as a path in core terms: a root name (`x`, `lambda`, `max_iter`) followed by
    /// fields (`.scale`) and indices (`[1]`, `[2][0]`). Empty for a cancellation.
    pub arg: String,
    /// What the argument must be (`positive and finite`, `an integer in [1, 64]`).
    pub expected: String,
    /// What it was (`-1`, `NaN`, `11 values`).
    pub got: String,
    /// Set when the arguments were valid but a result left its floating-point range
    /// ([`Error::because`]); `None` for a rule on the arguments themselves.
    pub numeric: Option<Numeric>,
}

/// The result of every fallible entry point of the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    fn new(kind: ErrorKind, arg: impl Into<String>, expected: impl Into<String>, got: impl fmt::Display) -> Self {
        Error { kind, arg: arg.into(), expected: expected.into(), got: got.to_string(), numeric: None }
    }

    /// A value out of range: `` `{arg}` must be {expected}, got {got} `` (a `RangeError`).
    pub fn range(arg: impl Into<String>, expected: impl Into<String>, got: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Range, arg, expected, got)
    }

    /// A wrong kind or shape: `` `{arg}` must be {expected}, got {got} `` (a `TypeError`).
    pub fn type_(arg: impl Into<String>, expected: impl Into<String>, got: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Type, arg, expected, got)
    }

    /// The call was stopped by its cancellation token.
    pub fn cancelled() -> Self {
        Error { kind: ErrorKind::Cancelled, arg: String::new(), expected: String::new(), got: String::new(), numeric: None }
    }

    /// The same error, marked as a floating-point range fault (see [`Numeric`]).
    pub fn because(mut self, numeric: Numeric) -> Self {
        self.numeric = Some(numeric);
        self
    }

    /// Whether this is a cancellation ([`ErrorKind::Cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// The root of [`Error::arg`]: the argument's name without its fields and indices
    /// (`weights.wq[0]` → `weights`).
    pub fn root(&self) -> &str {
        let end = self.arg.find(['.', '[']).unwrap_or(self.arg.len());
        &self.arg[..end]
    }

    /// The same error about `arg` seen from its parent: `at("[2]")` makes `x` into `x[2]`,
    /// `at(".scale")` makes `init` into `init.scale`.
    pub fn at(mut self, suffix: &str) -> Self {
        self.arg.push_str(suffix);
        self
    }

    /// The same error with `arg`'s root replaced by `root` (the binding's renaming:
    /// `x[1][0]` → `source[1][0]`).
    pub fn with_root(mut self, root: &str) -> Self {
        let end = self.root().len();
        self.arg.replace_range(..end, root);
        self
    }

    /// The message: `` `{arg}` must be {expected}, got {got} ``.
    pub fn message(&self) -> String {
        match self.kind {
            ErrorKind::Cancelled => "the operation was cancelled".to_string(),
            _ => format!("`{}` must be {}, got {}", self.arg, self.expected, self.got),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.kind {
            ErrorKind::Type => "TypeError",
            ErrorKind::Range => "RangeError",
            ErrorKind::Cancelled => "AbortError",
        };
        write!(f, "{class}: {}", self.message())
    }
}

impl std::error::Error for Error {}

/// `Ok(())` when `cond` holds, else the error `err` builds (only built on failure).
pub fn ensure(cond: bool, err: impl FnOnce() -> Error) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(err())
    }
}

/// `"n values"`: the `got` of a length mismatch.
pub fn values(n: usize) -> String {
    if n == 1 {
        "1 value".to_string()
    } else {
        format!("{n} values")
    }
}

/// A number as JavaScript prints it (`Infinity`, `-Infinity`, `NaN`; finite values as Rust does).
pub fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        v.to_string()
    }
}

/// A range error for the first non-finite entry of the row-major `n × d` matrix `v` (named `arg`),
/// located as `arg[row][column]`; `Ok` when all are finite.
pub fn finite_rows<T: Real>(arg: &str, v: &[T], d: usize) -> Result<()> {
    match v.iter().position(|&t| !t.f64().is_finite()) {
        None => Ok(()),
        Some(i) => {
            let (r, c) = i.checked_div(d).map_or((i, 0), |r| (r, i % d));
            Err(Error::range(format!("{arg}[{r}][{c}]"), "finite", num(v[i].f64())))
        }
    }
}

/// A range error for the first non-finite entry of `v`, a row-major tensor of shape `shape` (named
/// `arg`), located by its multi-index `arg[i][j][k]`; `Ok` when all are finite.
pub fn finite_tensor<T: Real>(arg: &str, v: &[T], shape: &[usize]) -> Result<()> {
    match first_non_finite(v) {
        None => Ok(()),
        Some(i) => {
            let mut path = String::new();
            let mut rest = i;
            for a in 0..shape.len() {
                let inner: usize = shape[a + 1..].iter().product::<usize>().max(1);
                path.push_str(&format!("[{}]", rest / inner));
                rest %= inner;
            }
            Err(Error::range(format!("{arg}{path}"), "finite", num(v[i].f64())))
        }
    }
}

/// A range fault ([`Numeric::Overflow`]) about the input `arg` when the result `v` (named `what`:
/// `the output`, `the gradient dx`) holds a non-finite value: the inputs were finite, so the values
/// overflowed on the way. One vectorised pass; `Ok` when every value is finite.
pub fn finite_result<T: Real>(arg: &str, what: &str, v: &[T]) -> Result<()> {
    match first_non_finite(v) {
        None => Ok(()),
        Some(i) => Err(Error::range(
            arg,
            format!("small enough (with the parameters and `lambda`) that {what} stays finite"),
            format!("an overflow ({what} is {} at index {i})", num(v[i].f64())),
        )
        .because(Numeric::Overflow)),
    }
}

/// Whether every value of `v` is finite (one pass without an early exit, vectorised): the check of
/// [`finite_tensor`] and [`finite_result`] on a small part of a tensor, e.g. one prompt while it is
/// in cache; the caller reports a failure by those on the whole tensor.
pub fn all_finite<T: Real>(v: &[T]) -> bool {
    v.iter().fold(true, |ok, &t| ok & t.is_finite())
}

/// The index of the first non-finite value of `v`: blocks of 256 values are checked without an
/// early exit (a loop the compiler vectorises), then the first failing block is searched.
fn first_non_finite<T: Real>(v: &[T]) -> Option<usize> {
    const B: usize = 256;
    let block = v.chunks(B).position(|c| !c.iter().fold(true, |ok, &t| ok & t.is_finite()))?;
    v[block * B..].iter().position(|&t| !t.f64().is_finite()).map(|i| block * B + i)
}

/// A range error for the first non-finite entry of the flat array `v` (named `arg`), located as
/// `arg[i]`; `Ok` when all are finite.
pub fn finite_flat<T: Real>(arg: &str, v: &[T]) -> Result<()> {
    match first_non_finite(v) {
        None => Ok(()),
        Some(i) => Err(Error::range(format!("{arg}[{i}]"), "finite", num(v[i].f64()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_error_holds_its_parts_and_reads_as_a_sentence() {
        let e = Error::range("lambda", "positive and finite", -1.0);
        assert_eq!(e.kind, ErrorKind::Range);
        assert_eq!((e.arg.as_str(), e.expected.as_str(), e.got.as_str()), ("lambda", "positive and finite", "-1"));
        assert_eq!(e.message(), "`lambda` must be positive and finite, got -1");
        assert_eq!(e.to_string(), "RangeError: `lambda` must be positive and finite, got -1");
    }

    #[test]
    fn a_range_fault_is_marked_and_a_rule_is_not() {
        let rule = Error::range("lambda", "positive and finite", -1.0);
        assert_eq!(rule.numeric, None);
        let fault = Error::range("x", "small enough", "an overflow").because(Numeric::Overflow);
        assert_eq!((fault.numeric, fault.kind), (Some(Numeric::Overflow), ErrorKind::Range));
        assert_eq!(Numeric::Underflow.as_str(), "underflow");
        // renaming keeps the mark
        assert_eq!(fault.with_root("source").numeric, Some(Numeric::Overflow));
    }

    #[test]
    fn a_non_finite_result_is_an_overflow_about_the_input() {
        assert!(finite_result("x", "the output", &[1.0f32, 2.0, 3.0]).is_ok());
        let mut v = vec![0.0f64; 300];
        v[257] = f64::INFINITY;
        let e = finite_result("x", "the output", &v).unwrap_err();
        assert_eq!((e.kind, e.numeric, e.arg.as_str()), (ErrorKind::Range, Some(Numeric::Overflow), "x"));
        assert!(e.message().contains("Infinity at index 257"), "{e}");
    }

    #[test]
    fn a_type_error_reports_a_shape() {
        let e = Error::type_("x", "B × L × d = 2 × 3 × 4 = 24 values", values(11));
        assert_eq!(e.kind, ErrorKind::Type);
        assert_eq!(e.got, "11 values");
        assert_eq!(values(1), "1 value");
        assert!(e.to_string().starts_with("TypeError: `x` must be B × L × d"));
    }

    #[test]
    fn paths_grow_and_their_root_is_renamed() {
        let e = Error::range("weights", "finite", f64::NAN).at(".wq").at("[0]");
        assert_eq!(e.arg, "weights.wq[0]");
        assert_eq!(e.root(), "weights");
        assert_eq!(e.clone().with_root("options.w").arg, "options.w.wq[0]");
        let x = Error::range("x[1][0]", "finite", num(f64::INFINITY)).with_root("source");
        assert_eq!(x.arg, "source[1][0]");
        assert_eq!(x.message(), "`source[1][0]` must be finite, got Infinity");
        assert_eq!(Error::range("lambda", "positive", 0).with_root("options.lambda").arg, "options.lambda");
    }

    #[test]
    fn cancellation_has_no_argument() {
        let e = Error::cancelled();
        assert!(e.is_cancelled());
        assert_eq!(e.root(), "");
        assert_eq!(e.to_string(), "AbortError: the operation was cancelled");
    }

    #[test]
    fn ensure_builds_the_error_only_on_failure() {
        assert_eq!(ensure(true, || unreachable!()), Ok(()));
        assert_eq!(ensure(false, || Error::range("k", "at least 1", 0)), Err(Error::range("k", "at least 1", 0)));
    }

    #[test]
    fn finiteness_locates_the_first_bad_entry() {
        assert_eq!(finite_rows("x", &[1.0, 2.0, 3.0, f64::NAN], 2).unwrap_err().arg, "x[1][1]");
        assert_eq!(finite_flat("params", &[1.0f32, f32::INFINITY]).unwrap_err().arg, "params[1]");
        assert!(finite_rows("x", &[1.0f32; 4], 2).is_ok());
        let mut t = vec![0.0; 2 * 3 * 4];
        t[4 * 3 + 2 * 4 + 1] = f64::NAN;
        assert_eq!(finite_tensor("x", &t, &[2, 3, 4]).unwrap_err().arg, "x[1][2][1]");
        assert_eq!(finite_flat("y", &[f64::NEG_INFINITY]).unwrap_err().got, "-Infinity");
        assert_eq!((num(f64::NAN), num(2.5)), ("NaN".to_string(), "2.5".to_string()));
    }
}
