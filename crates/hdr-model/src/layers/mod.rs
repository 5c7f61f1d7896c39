//! The typed layers, as dfdx modules whose sizes are part of their types.

mod block;
mod conv;
mod dropout;
mod pool;
mod shapes;
mod stack;
mod tensors;
#[cfg(test)]
mod test_ops;

pub use block::conv_relu_pool;
pub use conv::Conv2D;
pub use dfdx::nn::modules::Linear;
pub(crate) use dropout::maybe_dropout;
pub use dropout::Dropout;
pub use pool::MaxPool2D;
pub use shapes::{Features, Flatten, Nhwc};
pub use stack::Stack;
pub(crate) use tensors::cached_tensor;
