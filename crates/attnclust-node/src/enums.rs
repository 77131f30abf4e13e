//! The string options of the JS API as napi string enums, and one dispatch on the float type.
//!
//! Each enum is a `#[napi(string_enum)]`: napi-rs converts the JS string (a value outside the
//! enum is refused before the call runs) and the generated `native/index.d.ts` declares its union
//! type (`export type Scores = 'dot' | 'distance'`), which `src/` uses instead of a copy. At
//! runtime the addon also exports each enum as an object `{ Variant: 'value' }`: TypeScript reads
//! the valid values from it (`native.ts`, `choices`) to name them in its TypeError. The binding
//! parses no string by hand: each enum maps to its core type here.

use attnclust_core::baselines::em::EmCovariance;
use attnclust_core::data::prior::Centroids;
use attnclust_core::models::attention::Mask as CoreMask;
use attnclust_core::models::two_head::Scores as CoreScores;
use attnclust_core::train::optim::{Optimizer as CoreOptimizer, Schedule as CoreSchedule};
use napi_derive::napi;

/// The computation's float type: `'f32'` (Float32Array) or `'f64'` (Float64Array).
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// How a head (or a token) scores a token: `'dot'` `λ⟨x, θ⟩`, or `'distance'` `−λ‖x − θ‖²/2`.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scores {
    Dot,
    Distance,
}

impl From<Scores> for CoreScores {
    fn from(s: Scores) -> Self {
        match s {
            Scores::Dot => CoreScores::Dot,
            Scores::Distance => CoreScores::Distance,
        }
    }
}

/// Score mask of model C: `'none'`, `'causal'` (token `i` attends to `j ≤ i`) or `'no-self'`
/// (`j ≠ i`).
#[napi(string_enum = "kebab-case")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    None,
    Causal,
    NoSelf,
}

impl From<Mask> for CoreMask {
    fn from(m: Mask) -> Self {
        match m {
            Mask::None => CoreMask::None,
            Mask::Causal => CoreMask::Causal,
            Mask::NoSelf => CoreMask::NoSelf,
        }
    }
}

/// Update rule of a training run: `'sgd'`, `'momentum'` or `'adam'` (see the core's `train::optim`).
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Sgd,
    Momentum,
    Adam,
}

/// Learning-rate schedule: `'constant'`, `'cosine'` or `'inverse-time'`.
#[napi(string_enum = "kebab-case")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    Constant,
    Cosine,
    InverseTime,
}

/// How initial head parameters are drawn: `'random'`, `'point'` or `'data'` (SPEC §6 `InitSpec`).
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitKind {
    Random,
    Point,
    Data,
}

/// Covariance family of a Gaussian mixture: `'isotropic'`, `'diagonal'` or `'full'`.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixtureKind {
    Isotropic,
    Diagonal,
    Full,
}

/// How a prior draws each prompt's centroids: `'sphere'` (uniform on a sphere) or `'gaussian'`.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorKind {
    Sphere,
    Gaussian,
}

impl PriorKind {
    /// The core's centroid law with size `size` (radius or scale).
    pub fn centroids(self, size: f64) -> Centroids {
        match self {
            PriorKind::Sphere => Centroids::Sphere { radius: size },
            PriorKind::Gaussian => Centroids::Gaussian { scale: size },
        }
    }
}

/// Covariance family fitted by EM: `'isotropic'` or `'diagonal'`.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Covariance {
    Isotropic,
    Diagonal,
}

impl From<Covariance> for EmCovariance {
    fn from(c: Covariance) -> Self {
        match c {
            Covariance::Isotropic => EmCovariance::Isotropic,
            Covariance::Diagonal => EmCovariance::Diagonal,
        }
    }
}

/// The optimiser of a training run as the JS options give it, shared by model A's and model C's
/// trainers (same names, same defaults: momentum `beta` 0.9; Adam `beta1` 0.9, `beta2` 0.999,
/// `eps` 1e-8; cosine `scheduleTotal` 1 — TypeScript passes the run's `steps` —, `scheduleFloor`
/// 0; inverse-time `scheduleTau` 100).
#[napi(object)]
#[derive(Clone)]
pub struct OptimSpec {
    /// The update rule: 'sgd', 'momentum' or 'adam'.
    pub optimizer: OptimizerKind,
    /// Momentum `β ∈ [0, 1)` (default 0.9).
    pub beta: Option<f64>,
    /// Adam's `β₁ ∈ [0, 1)` (default 0.9).
    pub beta1: Option<f64>,
    /// Adam's `β₂ ∈ [0, 1)` (default 0.999).
    pub beta2: Option<f64>,
    /// Adam's `ε > 0` (default 1e-8).
    pub eps: Option<f64>,
    /// The learning-rate schedule: 'constant', 'cosine' or 'inverse-time'.
    pub schedule: ScheduleKind,
    /// 'cosine': steps of the decay, `≥ 1` (default 1; TypeScript passes the run's steps).
    pub schedule_total: Option<f64>,
    /// 'cosine': final fraction of `η`, in `[0, 1]` (default 0).
    pub schedule_floor: Option<f64>,
    /// 'inverse-time': time scale `τ > 0`, in steps (default 100).
    pub schedule_tau: Option<f64>,
    /// Base learning rate `η > 0`.
    pub lr: f64,
}

/// The JS names of the core's optimiser arguments, for both trainers (`train(…, { optimizer:
/// { kind: 'adam', beta1 } })`): the rule's constants are fields of `optimizer`; `lr` and
/// `schedule.*` keep their names.
pub const OPTIM_NAMES: crate::errors::Names =
    &[("beta", "optimizer.beta"), ("beta1", "optimizer.beta1"), ("beta2", "optimizer.beta2"), ("eps", "optimizer.eps")];

impl OptimSpec {
    /// The core's optimiser spec (checked by the core when the run starts).
    pub fn core(&self) -> attnclust_core::train::optim::Optim {
        let optimizer = match self.optimizer {
            OptimizerKind::Sgd => CoreOptimizer::Sgd,
            OptimizerKind::Momentum => CoreOptimizer::Momentum { beta: self.beta.unwrap_or(0.9) },
            OptimizerKind::Adam => CoreOptimizer::Adam { beta1: self.beta1.unwrap_or(0.9), beta2: self.beta2.unwrap_or(0.999), eps: self.eps.unwrap_or(1e-8) },
        };
        let schedule = match self.schedule {
            ScheduleKind::Constant => CoreSchedule::Constant,
            ScheduleKind::Cosine => CoreSchedule::Cosine { total: self.schedule_total.unwrap_or(1.0) as u64, floor: self.schedule_floor.unwrap_or(0.0) },
            ScheduleKind::InverseTime => CoreSchedule::InverseTime { tau: self.schedule_tau.unwrap_or(100.0) },
        };
        attnclust_core::train::optim::Optim { optimizer, schedule, lr: self.lr }
    }
}

/// Checks an optimiser spec as the core will when a run starts (`lr`, the rule's constants, the
/// schedule's), so that a run of 0 steps refuses the same options. Throws a `RangeError` naming
/// the JS option (`lr`, `optimizer.beta1`, `schedule.floor`).
#[napi]
pub fn check_optim(spec: OptimSpec) -> napi::Result<()> {
    crate::job::guard_sized(0, || spec.core().check().map_err(crate::errors::js_names(OPTIM_NAMES)))
}

/// A float array borrowed as a slice of its own type.
pub enum View<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// Float arrays that can be viewed as slices: JS typed arrays and owned copies.
pub trait AsView {
    fn view(&self) -> View<'_>;

    /// Number of values.
    fn values(&self) -> usize {
        match self.view() {
            View::F32(v) => v.len(),
            View::F64(v) => v.len(),
        }
    }

    /// The values as `f64` (a copy).
    fn to_f64(&self) -> Vec<f64> {
        match self.view() {
            View::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            View::F64(v) => v.to_vec(),
        }
    }
}

/// A float array written in place, as a mutable slice of its own type.
pub enum ViewMut<'a> {
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

/// Float arrays that a call writes in place: the result arrays TypeScript allocated.
pub trait AsViewMut {
    fn view_mut(&mut self) -> ViewMut<'_>;

    /// Whether the array holds `f32` values.
    fn is_f32(&self) -> bool;
}

impl AsViewMut for crate::borrow::FloatsMut {
    fn view_mut(&mut self) -> ViewMut<'_> {
        match self {
            crate::borrow::FloatsMut::F32(v) => ViewMut::F32(v),
            crate::borrow::FloatsMut::F64(v) => ViewMut::F64(v),
        }
    }

    fn is_f32(&self) -> bool {
        matches!(self, crate::borrow::FloatsMut::F32(_))
    }
}

impl AsView for crate::convert::Floats {
    fn view(&self) -> View<'_> {
        match self {
            napi::bindgen_prelude::Either::A(v) => View::F32(v),
            napi::bindgen_prelude::Either::B(v) => View::F64(v),
        }
    }
}

impl AsView for crate::borrow::FloatsRef {
    fn view(&self) -> View<'_> {
        match self {
            crate::borrow::FloatsRef::F32(v) => View::F32(v),
            crate::borrow::FloatsRef::F64(v) => View::F64(v),
        }
    }
}

impl AsView for crate::convert::Owned {
    fn view(&self) -> View<'_> {
        match self {
            crate::convert::Owned::F32(v) => View::F32(v),
            crate::convert::Owned::F64(v) => View::F64(v),
        }
    }
}

/// The one dispatch on the float type. `floats!([a => x, b => y], "a", "b"; body)` runs `body`
/// (a `Result`) with `x`, `y` bound to slices of one float type (borrowed arguments
/// [`crate::borrow::FloatsRef`], `Float32Array`/`Float64Array` or owned copies; the body is
/// compiled once per type); arrays of mixed types give the TypeError naming them.
/// `floats!([a => x, b => y], else mixed; body)` runs `mixed` instead for mixed types (the
/// arrays keep their own names there). `floats!(dtype => T; body)` runs `body` with the type
/// alias `T` set from a [`Dtype`]. A body's result in the computation's type goes back to JS
/// through [`crate::convert::Out`] (a [`crate::convert::FloatsOut`]).
/// `floats!([a => x], mut [y => y], "a", "y"; body)` also binds result arrays written in place
/// ([`crate::borrow::FloatsMut`], as `&mut` slices), after the borrowed ones.
#[macro_export]
macro_rules! floats {
    ([$($a:expr => $x:ident),*], mut [$($m:expr => $y:ident),+], $($name:literal),+; $body:expr) => {{
        #[allow(unused_imports)] // (no borrowed arrays: `floats!([], mut [..] …)`)
        use $crate::enums::{AsView as _, AsViewMut as _};
        let f32s = [$(matches!($a.view(), $crate::enums::View::F32(_)),)* $($m.is_f32(),)+];
        #[allow(unreachable_patterns)]
        match ($($a.view(),)* $($m.view_mut(),)+) {
            ($($crate::enums::View::F32($x),)* $($crate::enums::ViewMut::F32($y),)+) => $body,
            ($($crate::enums::View::F64($x),)* $($crate::enums::ViewMut::F64($y),)+) => $body,
            _ => Err($crate::enums::mismatch(&[$($name),+], &f32s)),
        }
    }};
    ([$($a:expr => $x:ident),+], else $mixed:expr; $body:expr) => {{
        use $crate::enums::AsView as _;
        #[allow(unreachable_patterns)]
        match ($($a.view(),)+) {
            ($($crate::enums::View::F32($x),)+) => $body,
            ($($crate::enums::View::F64($x),)+) => $body,
            _ => $mixed,
        }
    }};
    ([$($a:expr => $x:ident),+], $($name:literal),+; $body:expr) => {{
        use $crate::enums::AsView as _;
        #[allow(unreachable_patterns)]
        match ($($a.view(),)+) {
            ($($crate::enums::View::F32($x),)+) => $body,
            ($($crate::enums::View::F64($x),)+) => $body,
            _ => Err($crate::enums::mismatch(&[$($name),+], &[$(matches!($a.view(), $crate::enums::View::F32(_))),+])),
        }
    }};
    ($dtype:expr => $t:ident; $body:expr) => {
        match $dtype {
            $crate::enums::Dtype::F32 => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            $crate::enums::Dtype::F64 => {
                #[allow(dead_code)]
                type $t = f64;
                $body
            }
        }
    };
}

/// The error for float arrays of different types: `names[i]` is an array, `f32[i]` whether it is
/// a `Float32Array`. It names the first array whose type differs from the first one's.
pub fn mismatch(names: &[&str], f32: &[bool]) -> attnclust_core::Error {
    let i = f32.iter().position(|&t| t != f32[0]).unwrap_or(names.len() - 1);
    let (got, other) = if f32[i] { ("a Float32Array", "a Float64Array") } else { ("a Float64Array", "a Float32Array") };
    attnclust_core::Error::type_(names[i], format!("{other}, the float type of `{}` (the arrays share one float type)", names[0]), got)
}
