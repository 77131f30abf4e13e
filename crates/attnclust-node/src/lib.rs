//! Node.js bindings of attnclust-core (napi-rs). Thin on purpose: conversion of typed arrays,
//! argument checks that need JS types, sync and async (libuv thread pool) forms of each call,
//! core errors made into real `TypeError`/`RangeError` objects that name the JS argument (`errors.rs`).
//!
//! Every call, sync or async, runs inside [`guard`], which turns a Rust panic into a JS error:
//! no panic crosses into Node.
//!
//! Conventions of every `#[napi]` export (their `///` docs become the JSDoc of the generated
//! `native/index.d.ts`, which only `src/native.ts` imports; the public, documented API is `src/`):
//! matrices are flat typed arrays in row-major order with their sizes beside them (`x` of `n × d`,
//! prompts `B × L × d`, heads `H × d`); `f32` or `f64` in, the same type out unless a doc says
//! `f64`; a failed check throws (or rejects with) a real `TypeError` (wrong shape or type) or
//! `RangeError` (value out of range, overflow, memory) naming the JS argument, with `argument`,
//! `expected`, `got` and `code` properties, and a cancelled call rejects with an `Error` named
//! `AbortError` (`errors.rs`); `src/errors.ts` only turns napi-rs's own conversion errors into
//! TypeErrors. The maths and its sources are documented on the core items each export calls.

// An exported function takes the arguments of its JavaScript signature, however many.
#![allow(clippy::too_many_arguments)]

mod attention;
mod baselines;
mod borrow;
mod calibrate;
mod convert;
mod enums;
mod errors;
mod gmm;
mod heads;
mod identity;
mod job;
mod limits;
mod metrics;
mod out;
mod plan;
mod pool;
mod population;

pub use job::guard;
