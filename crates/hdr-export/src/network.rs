//! The exporter's description of a network: its input, its layers with their
//! weights, and the model card; shape checking through the layers.

use crate::ExportError;

/// One layer of a network, with its weights in hdr's layouts.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// 2-D convolution, `kernel` x `kernel`, stride 1, no padding ("valid").
    Conv2d {
        /// Side of the square kernel.
        kernel: usize,
        /// Channels in.
        in_channels: usize,
        /// Channels out (filters).
        out_channels: usize,
        /// `[kernel, kernel, in_channels, out_channels]` (HWIO, as in Keras), row-major.
        weight_hwio: Vec<f32>,
        /// `[out_channels]`.
        bias: Vec<f32>,
    },
    /// `max(x, 0)`, element-wise.
    Relu,
    /// Max over `size` x `size` windows, stride `size`; a partial last row or
    /// column is dropped (floor), as in Keras' `MaxPooling2D`.
    MaxPool {
        /// Window side and stride.
        size: usize,
    },
    /// Image to features in row, column, channel order (Keras' `Flatten` on NHWC).
    Flatten,
    /// Dropout: active only in training, so it adds nothing to the graph.
    Dropout,
    /// Fully connected: `y = W x + b`.
    Dense {
        /// Features in.
        inputs: usize,
        /// Features out.
        outputs: usize,
        /// `[outputs, inputs]` (as in PyTorch), row-major.
        weight_out_in: Vec<f32>,
        /// `[outputs]`.
        bias: Vec<f32>,
    },
    /// Softmax over the features.
    Softmax,
}

impl Layer {
    /// The layer's kind, as used in error messages and node names.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "conv",
            Layer::Relu => "relu",
            Layer::MaxPool { .. } => "pool",
            Layer::Flatten => "flatten",
            Layer::Dropout => "dropout",
            Layer::Dense { .. } => "dense",
            Layer::Softmax => "softmax",
        }
    }
}

/// What flows between layers, per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// An image: height, width, channels.
    Image {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
        /// Channels.
        channels: usize,
    },
    /// A feature vector of this length.
    Features(usize),
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activation::Image {
                height,
                width,
                channels,
            } => write!(f, "{height}x{width}x{channels} (HWC)"),
            Activation::Features(n) => write!(f, "{n} features"),
        }
    }
}

/// A network to export: square images in, one feature vector out.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Side of the square input image, in pixels (28 for hdr).
    pub input_side: usize,
    /// Channels of the input image (1: grey).
    pub input_channels: usize,
    /// The layers, input first.
    pub layers: Vec<Layer>,
    /// The model card, written into the ONNX `metadata_props` after the
    /// exporter's own entries (see [`crate::METADATA_INPUT_LAYOUT`]); keys must be unique.
    pub metadata: Vec<(String, String)>,
}

impl Network {
    /// The activation after each layer (one entry per layer), checking every
    /// layer's weights and sizes against what it receives.
    pub fn activations(&self) -> Result<Vec<Activation>, ExportError> {
        if self.input_side == 0 || self.input_channels == 0 {
            return Err(ExportError::Input {
                side: self.input_side,
                channels: self.input_channels,
            });
        }
        let mut current = Activation::Image {
            height: self.input_side,
            width: self.input_side,
            channels: self.input_channels,
        };
        let mut out = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            current = next_activation(layer, current).map_err(|message| ExportError::Layer {
                index,
                kind: layer.kind(),
                message,
            })?;
            out.push(current);
        }
        Ok(out)
    }

    /// The number of outputs per image: the length of the last layer's features.
    pub fn outputs(&self) -> Result<usize, ExportError> {
        match self.activations()?.last() {
            Some(Activation::Features(n)) => Ok(*n),
            Some(other) => Err(ExportError::Output(format!(
                "the network ends in an image ({other}); end it with Flatten and Dense"
            ))),
            None => Err(ExportError::Output("the network has no layers".into())),
        }
    }
}

/// The activation `layer` makes of `input`, or why it cannot.
fn next_activation(layer: &Layer, input: Activation) -> Result<Activation, String> {
    match (layer, input) {
        (Layer::Relu | Layer::Dropout, a) => Ok(a),
        (
            Layer::Conv2d {
                kernel,
                in_channels,
                out_channels,
                weight_hwio,
                bias,
            },
            Activation::Image {
                height,
                width,
                channels,
            },
        ) => {
            if *kernel == 0 || *out_channels == 0 {
                return Err("kernel side and output channels must be at least 1".into());
            }
            if *in_channels != channels {
                return Err(format!(
                    "expects {in_channels} input channels but receives {input}"
                ));
            }
            if *kernel > height || *kernel > width {
                return Err(format!("a {kernel}x{kernel} kernel does not fit {input}"));
            }
            check_len(
                "weight_hwio",
                weight_hwio,
                kernel * kernel * in_channels * out_channels,
            )?;
            check_len("bias", bias, *out_channels)?;
            Ok(Activation::Image {
                height: height - kernel + 1,
                width: width - kernel + 1,
                channels: *out_channels,
            })
        }
        (
            Layer::MaxPool { size },
            Activation::Image {
                height,
                width,
                channels,
            },
        ) => {
            if *size == 0 || *size > height || *size > width {
                return Err(format!("a {size}x{size} window does not fit {input}"));
            }
            Ok(Activation::Image {
                height: height / size,
                width: width / size,
                channels,
            })
        }
        (
            Layer::Flatten,
            Activation::Image {
                height,
                width,
                channels,
            },
        ) => Ok(Activation::Features(height * width * channels)),
        (Layer::Flatten, Activation::Features(n)) => Ok(Activation::Features(n)),
        (
            Layer::Dense {
                inputs,
                outputs,
                weight_out_in,
                bias,
            },
            Activation::Features(n),
        ) => {
            if *inputs != n {
                return Err(format!("expects {inputs} inputs but receives {input}"));
            }
            if *outputs == 0 {
                return Err("a dense layer needs at least one output".into());
            }
            check_len("weight_out_in", weight_out_in, inputs * outputs)?;
            check_len("bias", bias, *outputs)?;
            Ok(Activation::Features(*outputs))
        }
        (Layer::Softmax, Activation::Features(n)) => Ok(Activation::Features(n)),
        (Layer::Conv2d { .. } | Layer::MaxPool { .. }, Activation::Features(_)) => Err(format!(
            "needs an image but receives {input} (it comes after Flatten)"
        )),
        (Layer::Dense { .. } | Layer::Softmax, Activation::Image { .. }) => Err(format!(
            "needs features but receives an image {input}; put Flatten before it"
        )),
    }
}

fn check_len(name: &str, values: &[f32], expected: usize) -> Result<(), String> {
    if values.len() == expected {
        Ok(())
    } else {
        Err(format!(
            "`{name}` holds {} values, expected {expected}",
            values.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(kernel: usize, in_channels: usize, out_channels: usize) -> Layer {
        Layer::Conv2d {
            kernel,
            in_channels,
            out_channels,
            weight_hwio: vec![0.0; kernel * kernel * in_channels * out_channels],
            bias: vec![0.0; out_channels],
        }
    }

    fn dense(inputs: usize, outputs: usize) -> Layer {
        Layer::Dense {
            inputs,
            outputs,
            weight_out_in: vec![0.0; inputs * outputs],
            bias: vec![0.0; outputs],
        }
    }

    fn network(layers: Vec<Layer>) -> Network {
        Network {
            input_side: 28,
            input_channels: 1,
            layers,
            metadata: Vec::new(),
        }
    }

    #[test]
    fn seed_shapes_follow_keras() {
        let net = network(vec![
            conv(3, 1, 32),
            Layer::Relu,
            Layer::MaxPool { size: 2 },
            conv(3, 32, 64),
            Layer::Relu,
            Layer::MaxPool { size: 2 },
            Layer::Flatten,
            Layer::Dropout,
            dense(1600, 10),
            Layer::Softmax,
        ]);
        let shapes = net.activations().unwrap();
        assert_eq!(
            shapes[5],
            Activation::Image {
                height: 5,
                width: 5,
                channels: 64
            }
        );
        assert_eq!(shapes[6], Activation::Features(1600));
        assert_eq!(net.outputs().unwrap(), 10);
    }

    #[test]
    fn mismatches_name_the_layer() {
        let err = network(vec![conv(3, 1, 32), Layer::Flatten, dense(1600, 10)])
            .activations()
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 2 (dense)"), "{err}");
        assert!(
            err.contains("expects 1600 inputs but receives 21632"),
            "{err}"
        );

        let mut short = conv(3, 1, 4);
        if let Layer::Conv2d { weight_hwio, .. } = &mut short {
            weight_hwio.pop();
        }
        let err = network(vec![short]).activations().unwrap_err().to_string();
        assert!(
            err.contains("`weight_hwio` holds 35 values, expected 36"),
            "{err}"
        );

        let err = network(vec![conv(3, 1, 4), dense(10, 2)])
            .activations()
            .unwrap_err()
            .to_string();
        assert!(err.contains("put Flatten before it"), "{err}");

        let err = network(vec![conv(3, 1, 4)])
            .outputs()
            .unwrap_err()
            .to_string();
        assert!(err.contains("ends in an image"), "{err}");
    }
}
