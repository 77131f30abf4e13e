//! Node.js bindings of attnclust-core (napi-rs). Thin on purpose: conversion of typed arrays,
//! argument checks that need JS types, sync and async (libuv thread pool) forms of each call,
//! core errors made into real `TypeError`/`RangeError` objects that name the JS argument (`errors.rs`).
//!
//! Every call, sync or async, runs inside [`guard`], which turns a Rust panic into a JS error:
//! no panic crosses into Node.

// An exported function takes the arguments of its JavaScript signature, however many.
#![allow(clippy::too_many_arguments)]

mod attention;
mod baselines;
mod calibrate;
mod convert;
mod errors;
mod gmm;
mod heads;
mod identity;
mod job;
mod metrics;
mod plan;
mod pool;
mod population;

pub use job::guard;
