//! Shared by the integration tests: a plain-loop reference forward pass of a
//! [`Network`] (the oracle), deterministic random weights, and tract as the
//! ONNX runtime that checks the exported files.

#![allow(dead_code)]

use std::path::Path;

use hdr_export::{Layer, Network};
use tract_onnx::prelude::*;

/// A small deterministic generator (xorshift64*), so tests need no seed crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn values(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// A convolution with Glorot-like random weights.
pub fn conv(rng: &mut Rng, kernel: usize, in_channels: usize, out_channels: usize) -> Layer {
    let fan = (kernel * kernel * (in_channels + out_channels)) as f32;
    Layer::Conv2d {
        kernel,
        in_channels,
        out_channels,
        weight_hwio: rng.values(
            kernel * kernel * in_channels * out_channels,
            (6.0 / fan).sqrt(),
        ),
        bias: rng.values(out_channels, 0.1),
    }
}

/// A dense layer with random weights; `gain` spreads the logits.
pub fn dense(rng: &mut Rng, inputs: usize, outputs: usize, gain: f32) -> Layer {
    let limit = gain * (6.0 / (inputs + outputs) as f32).sqrt();
    Layer::Dense {
        inputs,
        outputs,
        weight_out_in: rng.values(inputs * outputs, limit),
        bias: rng.values(outputs, 0.1),
    }
}

/// The outputs of `network` for `n` NHWC images, computed in f64 with plain loops.
pub fn reference_forward(network: &Network, images: &[f32], n: usize) -> Vec<f32> {
    let side = network.input_side;
    let per_image = side * side * network.input_channels;
    assert_eq!(images.len(), n * per_image);
    let mut out = Vec::new();
    for image in images.chunks_exact(per_image) {
        // (height, width, channels, values HWC) or, after Flatten, channels = 0.
        let mut shape = (side, side, network.input_channels);
        let mut x: Vec<f64> = image.iter().map(|&v| v as f64).collect();
        for layer in &network.layers {
            match layer {
                Layer::Conv2d {
                    kernel: k,
                    in_channels: ci,
                    out_channels: co,
                    weight_hwio,
                    bias,
                } => {
                    let (h, w) = (shape.0 - k + 1, shape.1 - k + 1);
                    let mut y = vec![0.0; h * w * co];
                    for r in 0..h {
                        for c in 0..w {
                            for o in 0..*co {
                                let mut acc = bias[o] as f64;
                                for dy in 0..*k {
                                    for dx in 0..*k {
                                        for i in 0..*ci {
                                            let xv = x[((r + dy) * shape.1 + c + dx) * ci + i];
                                            let wv = weight_hwio[((dy * k + dx) * ci + i) * co + o];
                                            acc += xv * wv as f64;
                                        }
                                    }
                                }
                                y[(r * w + c) * co + o] = acc;
                            }
                        }
                    }
                    x = y;
                    shape = (h, w, *co);
                }
                Layer::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
                Layer::MaxPool { size: s } => {
                    let (h, w, ch) = (shape.0 / s, shape.1 / s, shape.2);
                    let mut y = vec![f64::NEG_INFINITY; h * w * ch];
                    for r in 0..h {
                        for c in 0..w {
                            for q in 0..ch {
                                for dy in 0..*s {
                                    for dx in 0..*s {
                                        let v = x[((r * s + dy) * shape.1 + c * s + dx) * ch + q];
                                        let m = &mut y[(r * w + c) * ch + q];
                                        *m = m.max(v);
                                    }
                                }
                            }
                        }
                    }
                    x = y;
                    shape = (h, w, ch);
                }
                // HWC order already.
                Layer::Flatten | Layer::Dropout => {}
                Layer::Dense {
                    inputs,
                    outputs,
                    weight_out_in,
                    bias,
                } => {
                    assert_eq!(x.len(), *inputs);
                    x = (0..*outputs)
                        .map(|o| {
                            bias[o] as f64
                                + (0..*inputs)
                                    .map(|i| weight_out_in[o * inputs + i] as f64 * x[i])
                                    .sum::<f64>()
                        })
                        .collect();
                }
                Layer::Softmax => {
                    let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = x.iter().map(|v| (v - max).exp()).sum();
                    x = x.iter().map(|v| (v - max).exp() / sum).collect();
                }
            }
        }
        out.extend(x.iter().map(|&v| v as f32));
    }
    out
}

/// Runs an ONNX file with tract on `n` NHWC images of `side` x `side` x
/// `channels`; returns the output as a flat vector and its shape.
pub fn run_with_tract(
    path: &Path,
    images: &[f32],
    n: usize,
    side: usize,
    channels: usize,
) -> TractResult<(Vec<f32>, Vec<usize>)> {
    let model = tract_onnx::onnx()
        .model_for_path(path)?
        .into_optimized()?
        .into_runnable()?;
    let input = tract_ndarray::Array4::from_shape_vec((n, side, side, channels), images.to_vec())?;
    let outputs = model.run(tvec!(Tensor::from(input).into()))?;
    let view = outputs[0].to_plain_array_view::<f32>()?;
    Ok((view.iter().copied().collect(), view.shape().to_vec()))
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
