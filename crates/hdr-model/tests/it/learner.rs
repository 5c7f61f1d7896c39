//! Training behaviour: determinism, checkpoints, dropout, NaN visibility, inference.

use std::path::Path;

use hdr_model::{Architecture, Classifier, Cnn, Deep, Learner, Network, IMAGE_PIXELS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn batch(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Class-dependent blobs so that the network has something to learn.
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let mut images = vec![0.0f32; n * IMAGE_PIXELS];
    for (i, &l) in labels.iter().enumerate() {
        for p in 0..IMAGE_PIXELS {
            let (r, c) = (p / 28, p % 28);
            let on = (r / 7 + c / 7 * 4) % 10 == l as usize;
            images[i * IMAGE_PIXELS + p] = if on {
                rng.gen_range(0.6..1.0)
            } else {
                rng.gen_range(0.0..0.2)
            };
        }
    }
    (images, labels)
}

fn train<N: Network>(net: &N, threads: usize, steps: u64) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut learner = Learner::new(net.clone(), 1e-3, 0.5);
        for s in 0..steps {
            let (x, y) = batch(9, s);
            learner.train_step(&x, &y, 100 + s);
        }
        learner.checkpoint_bytes()
    })
}

fn same_bytes_whatever_the_thread_count<N: Network>(net: N) {
    let one = train(&net, 1, 3);
    assert_eq!(one, train(&net, 1, 3));
    assert_eq!(one, train(&net, 2, 3));
    assert_eq!(one, train(&net, 3, 3));
    assert_ne!(one, train(&net, 1, 0), "training changed the weights");
}

#[test]
fn same_seed_same_data_same_bytes_whatever_the_thread_count() {
    same_bytes_whatever_the_thread_count(Cnn::new(42));
}

#[test]
fn deep_same_seed_same_data_same_bytes_whatever_the_thread_count() {
    same_bytes_whatever_the_thread_count(Deep::new(42));
}

#[test]
fn training_lowers_the_loss() {
    let (x, y) = batch(32, 1);
    let mut learner = Learner::new(Cnn::new(1), 2e-3, 0.25);
    let before = learner.evaluate(&x, &y);
    for s in 0..25 {
        let out = learner.train_step(&x, &y, s);
        assert!(out.loss_sum.is_finite());
    }
    let after = learner.evaluate(&x, &y);
    assert!(
        after.loss_sum < 0.5 * before.loss_sum,
        "{before:?} -> {after:?}"
    );
    assert!(after.correct > before.correct);
}

#[test]
fn train_step_without_dropout_reports_the_pre_update_evaluation() {
    let (x, y) = batch(5, 2);
    let mut learner = Learner::new(Cnn::new(2), 1e-3, 0.0);
    let eval = learner.evaluate(&x, &y);
    let step = learner.train_step(&x, &y, 0);
    assert_eq!(eval, step);
    assert!(
        (eval.loss_sum / 5.0 - 10f64.ln()).abs() < 1.0,
        "initial loss near ln 10: {eval:?}"
    );
    assert_ne!(
        learner.evaluate(&x, &y),
        eval,
        "the step updated the weights"
    );
}

#[test]
fn dropout_depends_on_the_seed_only() {
    let (x, y) = batch(4, 3);
    let run = |seed| {
        let mut l = Learner::new(Cnn::new(3), 1e-3, 0.5);
        l.train_step(&x, &y, seed);
        l.network().to_safetensors()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn checkpoint_restores_weights_and_adam_state() {
    let (x, y) = batch(6, 4);
    let mut a = Learner::new(Cnn::new(5), 1e-3, 0.5);
    a.train_step(&x, &y, 1);
    a.train_step(&x, &y, 2);
    let bytes = a.checkpoint_bytes();
    let mut b =
        Learner::<Cnn>::from_checkpoint(&bytes, Path::new("ckpt.safetensors"), 1e-3, 0.5).unwrap();
    assert_eq!(b.steps(), 2);
    assert_eq!(b.checkpoint_bytes(), bytes);
    a.train_step(&x, &y, 3);
    b.train_step(&x, &y, 3);
    assert_eq!(
        a.network().to_safetensors(),
        b.network().to_safetensors(),
        "resumed training continues identically"
    );

    // A fresh optimizer (moments lost) would not.
    let mut c = Learner::new(
        Cnn::from_safetensors(
            &Learner::<Cnn>::from_checkpoint(&bytes, Path::new("x"), 1e-3, 0.5)
                .unwrap()
                .network()
                .to_safetensors(),
            Path::new("x"),
        )
        .unwrap(),
        1e-3,
        0.5,
    );
    c.train_step(&x, &y, 3);
    assert_ne!(c.network().to_safetensors(), a.network().to_safetensors());

    // A weights file is not a checkpoint, and a damaged checkpoint is a format error.
    assert!(Learner::<Cnn>::from_checkpoint(
        &a.network().to_safetensors(),
        Path::new("w"),
        1e-3,
        0.5
    )
    .is_err());
    let e = Learner::<Cnn>::from_checkpoint(
        &bytes[..bytes.len() - 3],
        Path::new("ckpt.bin"),
        1e-3,
        0.5,
    )
    .err()
    .unwrap();
    assert!(e.to_string().starts_with("ckpt.bin: "), "{e}");
}

#[test]
fn nan_loss_is_visible() {
    let (x, y) = batch(3, 5);
    let mut cnn = Cnn::new(6);
    cnn.dense.bias.copy_from(&[f32::NAN; 10]);
    let mut learner = Learner::new(cnn, 1e-3, 0.5);
    assert!(learner.train_step(&x, &y, 0).loss_sum.is_nan());
    assert!(learner.evaluate(&x, &y).loss_sum.is_nan());
}

#[test]
fn predictions_are_probabilities_and_independent_of_batching() {
    let mut learner = Learner::new(Cnn::new(7), 1e-3, 0.5);
    let (x, y) = batch(16, 6);
    for s in 0..3 {
        learner.train_step(&x, &y, s);
    }
    let classifier = Classifier::new(learner.network().clone());
    let n = 1030; // more than one internal batch
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let raw: Vec<u8> = (0..n * IMAGE_PIXELS).map(|_| rng.gen()).collect();
    let all = classifier.predict(&raw);
    assert_eq!(all.len(), n);
    for (i, p) in all.iter().enumerate() {
        let sum: f32 = p.probabilities.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-5,
            "image {i}: probabilities sum to {sum}"
        );
        assert!(p.probabilities.iter().all(|&q| (0.0..=1.0).contains(&q)));
        let best = p.probabilities.iter().cloned().fold(0.0, f32::max);
        assert_eq!(p.confidence(), best);
    }
    for i in [0, 1, 1024, 1029] {
        let one = classifier.predict(&raw[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
        assert_eq!(one[0].digit, all[i].digit, "image {i} alone vs in a batch");
        for (a, b) in one[0].probabilities.iter().zip(&all[i].probabilities) {
            assert!(
                (a - b).abs() < 1e-5,
                "image {i}: {a} alone vs {b} in a batch"
            );
        }
    }
    assert!(classifier.predict(&[]).is_empty());
}

#[test]
fn model_card_lists_the_architecture() {
    let lines = Architecture::Seed.describe();
    assert!(
        lines.contains(&"conv1: Conv2D 1->32 3x3 valid + bias -> 32x26x26".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"pool2: MaxPool2D 2x2 stride 2 (floor) -> 64x5x5".to_string()),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("-> 1600")));
}
