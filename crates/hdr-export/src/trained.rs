//! hdr's own networks as the exporter's layer list, and the model card that
//! goes with a trained weights file.
//!
//! The layer order here mirrors each network's `forward` in hdr-model; the
//! tract tests (`tests/trained.rs`) run the exported graph of every
//! architecture against hdr's own inference, so a mismatch cannot pass.

use hdr_model::{dfdx, AnyNetwork, Cnn, Conv2D, Deep, Linear};

use crate::network::Layer;

/// The layers of `network`, weights included, input first.
pub fn layers_of(network: &AnyNetwork) -> Vec<Layer> {
    match network {
        AnyNetwork::Seed(net) => seed_layers(net),
        AnyNetwork::Deep(net) => deep_layers(net),
    }
}

fn seed_layers(net: &Cnn) -> Vec<Layer> {
    vec![
        conv(&net.conv1),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        conv(&net.conv2),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        Layer::Dropout,
        dense(&net.dense),
        Layer::Softmax,
    ]
}

fn deep_layers(net: &Deep) -> Vec<Layer> {
    vec![
        conv(&net.conv1),
        Layer::Relu,
        conv(&net.conv2),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        conv(&net.conv3),
        Layer::Relu,
        conv(&net.conv4),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        dense(&net.hidden),
        Layer::Relu,
        Layer::Dropout,
        dense(&net.output),
        Layer::Softmax,
    ]
}

fn conv<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    layer: &Conv2D<IN_C, OUT_C, K, H, W, OH, OW>,
) -> Layer {
    Layer::Conv2d {
        kernel: K,
        in_channels: IN_C,
        out_channels: OUT_C,
        weight_hwio: layer.weight.as_vec(),
        bias: layer.bias.as_vec(),
    }
}

fn dense<const I: usize, const O: usize>(layer: &Linear<I, O, f32, dfdx::prelude::Cpu>) -> Layer {
    Layer::Dense {
        inputs: I,
        outputs: O,
        weight_out_in: layer.weight.as_vec(),
        bias: layer.bias.as_vec(),
    }
}

/// What the model card in the ONNX metadata says about a trained network.
#[derive(Debug, Clone, Default)]
pub struct TrainedCard {
    /// SHA-256 of the weights file the network was loaded from.
    pub weights_sha256: String,
    /// The train stage's model card, when it sits beside the weights.
    pub card: Option<hdr_artifacts::ModelCard>,
    /// The test split's accuracy, when the eval stage scored these weights.
    pub test_accuracy: Option<f64>,
}

/// `network` with its layers and the model card as ONNX metadata
/// (architecture, hdr version, weights hash; data hash, kept epoch, kernel
/// path and test accuracy when known).
pub fn trained_network(network: &AnyNetwork, about: &TrainedCard) -> crate::Network {
    let architecture = network.architecture();
    let mut metadata = vec![
        ("architecture".to_string(), architecture.to_string()),
        ("layers".to_string(), architecture.describe().join("\n")),
        (
            "parameters".to_string(),
            architecture.parameters().to_string(),
        ),
        (
            "hdr_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("weights_sha256".to_string(), about.weights_sha256.clone()),
    ];
    if let Some(card) = &about.card {
        metadata.push(("data_sha256".into(), card.data_sha256.clone()));
        metadata.push(("best_epoch".into(), card.best_epoch.to_string()));
        metadata.push(("kernels".into(), card.kernels.clone()));
    }
    if let Some(accuracy) = about.test_accuracy {
        metadata.push(("test_accuracy".into(), format!("{accuracy:.6}")));
    }
    crate::Network {
        input_side: hdr_model::IMAGE_SIDE,
        input_channels: 1,
        layers: layers_of(network),
        metadata,
    }
}
