//! Training: the learner (forward on dfdx's tape, cross-entropy, backward)
//! and Adam, whose state checkpoints keep.

mod adam;
mod learner;

pub use learner::{Learner, StepOutput};
