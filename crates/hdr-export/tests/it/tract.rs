//! The exported graphs, run by tract, compute what the plain-loop reference
//! computes: the seed network, the deeper network, odd sizes and channels,
//! any batch size; a truncated file fails cleanly.

use crate::common::{conv, dense, max_abs_diff, reference_forward, run_with_tract, Rng};
use hdr_export::{write_onnx, Layer, Network};

fn seed_network(rng: &mut Rng, softmax: bool) -> Network {
    let mut layers = vec![
        conv(rng, 3, 1, 32),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        conv(rng, 3, 32, 64),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        Layer::Dropout,
        dense(rng, 1600, 10, 16.0),
    ];
    if softmax {
        layers.push(Layer::Softmax);
    }
    Network {
        input_side: 28,
        input_channels: 1,
        layers,
        metadata: Vec::new(),
    }
}

/// The `deep` network: two conv pairs, a hidden dense layer.
fn deep_network(rng: &mut Rng) -> Network {
    Network {
        input_side: 28,
        input_channels: 1,
        layers: vec![
            conv(rng, 3, 1, 32),
            Layer::Relu,
            conv(rng, 3, 32, 32),
            Layer::Relu,
            Layer::MaxPool { size: 2 },
            conv(rng, 3, 32, 64),
            Layer::Relu,
            conv(rng, 3, 64, 64),
            Layer::Relu,
            Layer::MaxPool { size: 2 },
            Layer::Flatten,
            dense(rng, 1024, 128, 1.0),
            Layer::Relu,
            Layer::Dropout,
            dense(rng, 128, 10, 16.0),
            Layer::Softmax,
        ],
        metadata: Vec::new(),
    }
}

/// Exports `network`, runs `n` random images through tract and the reference;
/// returns (max |Δ|, largest |reference value|, argmax agreements).
fn compare(network: &Network, n: usize, seed: u64) -> (f32, f32, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    write_onnx(network, &path).unwrap();
    let per_image = network.input_side * network.input_side * network.input_channels;
    let mut rng = Rng::new(seed);
    let images: Vec<f32> = (0..n * per_image).map(|_| 0.5 + 0.5 * rng.next()).collect();
    let (got, shape) = run_with_tract(
        &path,
        &images,
        n,
        network.input_side,
        network.input_channels,
    )
    .unwrap();
    let want = reference_forward(network, &images, n);
    let classes = network.outputs().unwrap();
    assert_eq!(shape, vec![n, classes]);
    let largest = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let agree = got
        .chunks_exact(classes)
        .zip(want.chunks_exact(classes))
        .filter(|(g, w)| argmax(g) == argmax(w))
        .count();
    (max_abs_diff(&got, &want), largest, agree)
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

#[test]
fn seed_network_logits_match_the_reference() {
    let network = seed_network(&mut Rng::new(1), false);
    let (diff, largest, agree) = compare(&network, 12, 2);
    assert!(largest > 1.0, "logits spread enough to compare: {largest}");
    assert!(diff <= 1e-5 * largest.max(1.0), "max |Δlogit| {diff}");
    assert_eq!(agree, 12);
}

#[test]
fn seed_network_probabilities_match_the_reference() {
    let network = seed_network(&mut Rng::new(3), true);
    let (diff, _, agree) = compare(&network, 12, 4);
    assert!(diff <= 1e-6, "max |Δp| {diff}");
    assert_eq!(agree, 12);
}

#[test]
fn deep_network_matches_the_reference() {
    let network = deep_network(&mut Rng::new(5));
    let (diff, _, agree) = compare(&network, 6, 6);
    assert!(diff <= 1e-6, "max |Δp| {diff}");
    assert_eq!(agree, 6);
}

#[test]
fn colour_input_and_floor_pooling_keep_the_channel_order() {
    // 9x9x3 → conv 2x2 → 8x8x5 → pool 3 (floor) → 2x2x5 → 20 → dense 4.
    let mut rng = Rng::new(7);
    let network = Network {
        input_side: 9,
        input_channels: 3,
        layers: vec![
            conv(&mut rng, 2, 3, 5),
            Layer::MaxPool { size: 3 },
            Layer::Flatten,
            dense(&mut rng, 20, 4, 3.0),
        ],
        metadata: Vec::new(),
    };
    let (diff, largest, agree) = compare(&network, 5, 8);
    assert!(diff <= 1e-5 * largest.max(1.0), "max |Δ| {diff}");
    assert_eq!(agree, 5);
}

#[test]
fn the_batch_dimension_is_dynamic() {
    let network = seed_network(&mut Rng::new(9), true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    write_onnx(&network, &path).unwrap();
    for n in [1, 3, 17] {
        let images = vec![0.25; n * 784];
        let (_, shape) = run_with_tract(&path, &images, n, 28, 1).unwrap();
        assert_eq!(shape, vec![n, 10]);
    }
}

#[test]
fn a_truncated_file_fails_cleanly() {
    let network = seed_network(&mut Rng::new(11), true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    write_onnx(&network, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() / 2, bytes.len() - 3, 10] {
        let truncated = dir.path().join(format!("truncated-{keep}.onnx"));
        std::fs::write(&truncated, &bytes[..keep]).unwrap();
        let err = run_with_tract(&truncated, &[0.0; 784], 1, 28, 1)
            .expect_err("a truncated model must not load");
        let message = err.to_string();
        assert!(message.contains("failed to decode"), "{message}");
    }
}
