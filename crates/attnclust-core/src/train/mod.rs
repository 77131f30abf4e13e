//! Training: initialisations, optimisers and schedules, and the training loops of models A and C.
//!
//! - [`init`]: initial head parameters (SPEC §6 `InitSpec`);
//! - [`optim`]: SGD, momentum and Adam, and the learning-rate schedules;
//! - [`two_head`]: online SGD and full-batch training of model A;
//! - [`population`]: gradient descent on the exact population risk of model A;
//! - [`attention`]: training model C on mixture prompts with the reconstruction loss.

pub mod attention;
pub mod init;
pub mod optim;
pub mod population;
pub mod two_head;
