//! Node.js bindings of attnclust-core (napi-rs). Thin on purpose: conversion of typed arrays,
//! argument checks that need JS types, sync and async (libuv thread pool) forms of each call,
//! core errors mapped to messages that the TypeScript layer turns into `TypeError`/`RangeError`.
//!
//! Every call, sync or async, runs inside [`guard`], which turns a Rust panic into a JS error:
//! no panic crosses into Node.

// An exported function takes the arguments of its JavaScript signature, however many.
#![allow(clippy::too_many_arguments)]

mod attention;
mod baselines;
mod borrow;
mod calibrate;
mod convert;
mod gmm;
mod heads;
mod identity;
mod job;
mod metrics;
mod out;
mod plan;
mod pool;
mod population;

pub use job::guard;
