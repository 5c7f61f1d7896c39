//! Writes a trained hdr network as a standard ONNX model, so that onnxruntime,
//! tract, OpenCV, ML.NET or a browser can run it without hdr.
//!
//! The network is described explicitly, independent of how hdr trains it: a
//! [`Network`] is the input size, a list of [`Layer`]s with their weights in
//! hdr's layouts (convolution kernels HWIO as in Keras, dense weights
//! `[out, in]`), and a model card. [`to_onnx`] turns it into the bytes of an
//! ONNX model (opset [`OPSET`]); [`write_onnx`] writes them atomically.
//! [`trained_network`] builds that description for hdr's own networks (every
//! architecture of hdr-model) with the model card as metadata.
//!
//! The graph's contract, also stated in its doc string and `metadata_props`:
//!
//! - input `image`: float32 `[N, side, side, channels]`, NHWC (batch, row,
//!   column, channel), grey pixel bytes / 255 so in [0, 1], 0 being the
//!   background (light ink on dark, as in MNIST); `N` is a dynamic batch
//!   dimension;
//! - output `probabilities` (or `logits` when the network does not end in
//!   softmax): float32 `[N, classes]`.
//!
//! Inside, a `Transpose` turns the NHWC input into ONNX's NCHW for `Conv` and
//! `MaxPool`, and another turns it back before `Flatten`, so the flattened
//! features are in hdr's (and Keras') row, column, channel order and the dense
//! weights are used unchanged by `Gemm`. Dropout adds no node.
//!
//! ```
//! use hdr_export::{to_onnx, Layer, Network};
//! let network = Network {
//!     input_side: 4,
//!     input_channels: 1,
//!     layers: vec![
//!         Layer::MaxPool { size: 2 },
//!         Layer::Flatten,
//!         Layer::Dense { inputs: 4, outputs: 2, weight_out_in: vec![0.5; 8], bias: vec![0.0; 2] },
//!         Layer::Softmax,
//!     ],
//!     metadata: vec![("architecture".into(), "tiny".into())],
//! };
//! let bytes = to_onnx(&network)?;
//! assert!(!bytes.is_empty());
//! # Ok::<(), hdr_export::ExportError>(())
//! ```

#![deny(missing_docs)]

mod graph;
mod network;
mod trained;
// The ONNX messages: prost types generated once from ONNX's own schema
// (proto/onnx.proto) and checked in; tests/generated_schema.rs regenerates
// them with protox, so neither building nor regenerating needs protoc.
// Chosen over crates that ship generated ONNX types: prost is the widely used,
// maintained protobuf crate (tokio project) and the schema is the official
// one, whereas `onnx-protobuf` is little used and MPL-licensed, and tract's
// `pb` module would pull a whole inference engine into the exporter.
#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod onnx_pb;

use std::path::{Path, PathBuf};

pub use graph::{to_onnx, write_onnx};
pub use network::{Activation, Layer, Network};
pub use trained::{layers_of, trained_network, TrainedCard};

/// The ONNX operator set the graph uses (the default domain).
pub const OPSET: i64 = 13;
/// The ONNX IR version written: the one that goes with opset 13.
pub const IR_VERSION: i64 = 7;
/// Name of the graph's input.
pub const INPUT_NAME: &str = "image";
/// How the input's values are made from an image.
pub const INPUT_SCALING: &str =
    "grey pixel bytes / 255, in [0, 1]; 0 is the background (light ink on dark, as in MNIST)";
/// `metadata_props` key of the input's layout, shape and scaling.
pub const METADATA_INPUT_LAYOUT: &str = "input_layout";
/// `metadata_props` key of the output's name and shape.
pub const METADATA_OUTPUT: &str = "output";

/// Everything that can go wrong exporting a network.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The input size is empty.
    #[error("the input must be at least 1x1 with 1 channel, got side {side}, {channels} channels")]
    Input {
        /// Side of the square input.
        side: usize,
        /// Input channels.
        channels: usize,
    },
    /// A layer does not fit what it receives, or its weights have the wrong length.
    #[error("layer {index} ({kind}): {message}")]
    Layer {
        /// Position in [`Network::layers`], from 0.
        index: usize,
        /// The layer's kind ([`Layer::kind`]).
        kind: &'static str,
        /// What does not fit.
        message: String,
    },
    /// The network does not end in a feature vector.
    #[error("{0}")]
    Output(String),
    /// Two model-card entries have the same key (ONNX requires unique keys).
    #[error("metadata key `{0}` appears twice")]
    DuplicateMetadata(String),
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The output path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl ExportError {
    fn write(path: &Path, source: std::io::Error) -> Self {
        ExportError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}
