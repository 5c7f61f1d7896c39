//! Throughput of the typed layers on dfdx's tape used the plain way
//! (`Cnn::forward` with a tape, dfdx's cross-entropy, backward and dfdx's own
//! `Adam`; tensors built with `tensor_from_vec` on a device without dfdx's
//! allocation cache; untaped `Cnn::forward` for inference). The same ops as
//! `Learner::train_step` minus the allocation cache it turns on, on the same
//! random data as `bench_step`, to compare on one machine. Run in release:
//! `cargo run --release -p hdr-model --example bench_typed_layers [train_steps] [predict_rounds]`
//! Prints one JSON line.

use std::time::Instant;

use hdr_model::dfdx::nn::ZeroGrads;
use hdr_model::dfdx::optim::{Adam, AdamConfig, Optimizer};
use hdr_model::dfdx::prelude::*;
use hdr_model::{dropout_mask, Cnn, Nhwc, IMAGE_PIXELS, NUM_CLASSES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batch = 128;
    let images: Vec<f32> = (0..batch * IMAGE_PIXELS)
        .map(|_| rng.gen::<f32>())
        .collect();
    let labels: Vec<u8> = (0..batch).map(|_| rng.gen_range(0..10)).collect();
    let dev = Cpu::default();
    let mut targets = vec![0.0f32; batch * NUM_CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        targets[i * NUM_CLASSES + l as usize] = 1.0;
    }

    let mut cnn = Cnn::new(1);
    let mut adam = Adam::new(
        &cnn,
        AdamConfig {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-7,
            weight_decay: None,
        },
    );
    let mut grads = Some(cnn.alloc_grads());
    let mut step = |cnn: &mut Cnn, seed: u64| {
        let x: Nhwc<28, 28, 1> = dev.tensor_from_vec(images.clone(), (batch, Const, Const, Const));
        let mask = dropout_mask(&dev, batch, 0.5, seed);
        let logits = cnn.forward(x.traced(grads.take().expect("grads")), Some(mask), false);
        let y = dev.tensor_from_vec(targets.clone(), (batch, Const::<NUM_CLASSES>));
        let mut g = cross_entropy_with_logits_loss(logits, y).backward();
        adam.update(cnn, &g).expect("adam");
        cnn.zero_grads(&mut g);
        grads = Some(g);
    };
    for s in 0..3 {
        step(&mut cnn, s); // warm-up
    }
    let start = Instant::now();
    for s in 0..steps {
        step(&mut cnn, s as u64);
    }
    let train_s = start.elapsed().as_secs_f64();

    let n = 1000;
    let pixels: Vec<f32> = (0..n * IMAGE_PIXELS).map(|_| rng.gen::<f32>()).collect();
    let start = Instant::now();
    for _ in 0..rounds {
        let x: Nhwc<28, 28, 1> = dev.tensor_from_vec(pixels.clone(), (n, Const, Const, Const));
        std::hint::black_box(cnn.forward(x, None, false).as_vec());
    }
    let predict_s = start.elapsed().as_secs_f64();
    println!(
        "{{\"path\": \"typed layers on dfdx's tape\", \"threads\": {}, \"train_batch\": {batch}, \"train_steps\": {steps}, \"train_samples_per_s\": {:.1}, \"train_ms_per_step\": {:.2}, \"predict_batch\": {n}, \"predict_images_per_s\": {:.1}}}",
        rayon::current_num_threads(),
        (steps * batch) as f64 / train_s,
        train_s * 1e3 / steps as f64,
        (rounds * n) as f64 / predict_s,
    );
}
