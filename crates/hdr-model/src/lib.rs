//! Digit-recognition networks on dfdx, built from hand-written typed layers
//! whose shapes are checked at compile time, with their training and
//! inference.
//!
//! The crate is layered; each layer uses only those below it:
//! - `kernels`: plain-slice compute behind one dispatch point — generic
//!   im2col/GEMM kernels for any geometry, Winograd F(4x4, 3x3) and
//!   F(2x2, 3x3) kernels for 3x3 convolutions over 8 or more channels, and
//!   kernels written for the seed network's two conv blocks (the tuned ones
//!   in AVX-512, AVX2 and portable builds, see [`KernelPath`]);
//! - `layers`: the typed dfdx modules [`Conv2D`], [`MaxPool2D`], [`Flatten`]
//!   (and dfdx's [`Linear`]), the fused [`conv_relu_pool`] tape op and
//!   [`Stack`] of them, [`Dropout`];
//! - `networks`: [`Cnn`] (the seed's Keras model) and [`Deep`], each a short
//!   file of layer aliases and a forward chain, behind the [`Network`] trait;
//!   their parameters are walked once, in [`params`] order, by
//!   initialisation, weights files, Adam and checkpoints;
//! - [`TensorFile`] (safetensors), [`Learner`] (training steps and Adam) and
//!   [`Classifier`] (inference on raw bytes) on top.
//!
//! Activations are NHWC. Work is split over the batch in fixed chunks and
//! per-chunk sums are added in chunk order, so results are bit-identical
//! whatever the number of threads (for one kernel path).

#![deny(missing_docs)]

mod error;
mod inference;
mod io;
mod kernels;
mod layers;
mod networks;
mod train;

pub use dfdx;
pub use error::ModelError;
pub use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
pub use inference::{Classifier, Prediction};
pub use io::TensorFile;
pub use kernels::{
    active_kernel_path, kernel_path, kernels_from_env, KernelPath, KernelsError, KERNELS_ENV,
};
pub use layers::{
    conv_relu_pool, Conv2D, Dropout, Features, Flatten, Linear, MaxPool2D, Nhwc, Stack,
};
pub use networks::{
    deep, initialised, params, seed, AnyNetwork, Architecture, Cnn, Deep, ModelConfig, Network,
    Param, UnknownArchitecture,
};
pub use train::{Learner, StepOutput};
