//! Throughput of `Learner::train_step` (batch 128) and `Classifier::predict`
//! (batch 1000) on random data. Run in release:
//! `cargo run --release -p hdr-model --example bench_step [train_steps] [predict_rounds] [seed|deep]`
//! Prints one JSON line.

use std::time::Instant;

use hdr_model::{AnyNetwork, Architecture, Classifier, Learner, Network, IMAGE_PIXELS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Samples per second of `steps` training steps on one batch (after a warm-up),
/// and the trained network.
fn train<N: Network>(net: N, steps: usize, images: &[f32], labels: &[u8]) -> (f64, AnyNetwork)
where
    AnyNetwork: From<N>,
{
    let mut learner = Learner::new(net, 1e-3, 0.5);
    for s in 0..5 {
        learner.train_step(images, labels, s); // warm-up: allocations, caches, thread pool
    }
    let start = Instant::now();
    for s in 0..steps {
        learner.train_step(images, labels, s as u64);
    }
    let seconds = start.elapsed().as_secs_f64();
    (
        (steps * labels.len()) as f64 / seconds,
        learner.network().clone().into(),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let architecture = args
        .next()
        .map(|a| Architecture::from_name(&a).expect("seed or deep"))
        .unwrap_or_default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batch = 128;
    let images: Vec<f32> = (0..batch * IMAGE_PIXELS)
        .map(|_| rng.gen::<f32>())
        .collect();
    let labels: Vec<u8> = (0..batch).map(|_| rng.gen_range(0..10)).collect();

    let (train_rate, network) = match AnyNetwork::new(architecture, 1) {
        AnyNetwork::Seed(net) => train(net, steps, &images, &labels),
        AnyNetwork::Deep(net) => train(net, steps, &images, &labels),
    };

    let n = 1000;
    let raw: Vec<u8> = (0..n * IMAGE_PIXELS).map(|_| rng.gen()).collect();
    let classifier = Classifier::new(network);
    classifier.predict(&raw);
    let start = Instant::now();
    for _ in 0..rounds {
        classifier.predict(&raw);
    }
    let predict_s = start.elapsed().as_secs_f64();
    println!(
        "{{\"architecture\": \"{architecture}\", \"kernels\": \"{}\", \"threads\": {}, \"train_batch\": {batch}, \"train_steps\": {steps}, \"train_samples_per_s\": {train_rate:.1}, \"predict_batch\": {n}, \"predict_images_per_s\": {:.1}}}",
        hdr_model::kernel_path(),
        rayon::current_num_threads(),
        (rounds * n) as f64 / predict_s,
    );
}
