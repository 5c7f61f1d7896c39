//! Gradient checks against central finite differences, and the fused fast
//! path against the layer-by-layer reference.
//!
//! The kernels are f32, so the finite differences are taken on f32 forwards
//! with the loss accumulated in f64. Convolution is linear in its input and
//! weights and max pooling is piecewise linear, so for those the central
//! difference is exact up to rounding and the tolerance can be tight.

use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::network::{Nhwc, FEATURES};
use hdr_model::{Cnn, Conv2D, MaxPool2D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn nhwc<const H: usize, const W: usize, const C: usize>(
    dev: &Cpu,
    data: &[f32],
    batch: usize,
) -> Nhwc<H, W, C> {
    dev.tensor_from_vec(data.to_vec(), (batch, Const, Const, Const))
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn bump<S: Shape>(t: &mut Tensor<S, f32, Cpu>, index: usize, delta: f32) {
    let mut v = t.as_vec();
    v[index] += delta;
    t.copy_from(&v);
}

fn assert_close(what: &str, analytic: f64, numeric: f64, abs: f64, rel: f64) {
    let err = (analytic - numeric).abs();
    assert!(
        err <= abs + rel * numeric.abs(),
        "{what}: analytic {analytic} vs numeric {numeric} (error {err})"
    );
}

// Non-square, several channels: a transposed index would show.
type SmallConv = Conv2D<2, 3, 3, 6, 5, 4, 3>;
const BATCH: usize = 2;

#[test]
fn conv_gradients_match_finite_differences() {
    let dev = Cpu::default();
    let mut conv = SmallConv::zeros(&dev);
    conv.weight.copy_from(&random(3 * 3 * 2 * 3, 1));
    conv.bias.copy_from(&random(3, 2));
    let x_data = random(BATCH * 6 * 5 * 2, 3);
    let r = random(BATCH * 4 * 3 * 3, 4); // loss = sum(out * r)
    let loss = |conv: &SmallConv, x: &[f32]| {
        dot(&conv.forward(nhwc::<6, 5, 2>(&dev, x, BATCH)).as_vec(), &r)
    };

    let x = nhwc::<6, 5, 2>(&dev, &x_data, BATCH);
    let y = conv.forward(x.leaky_trace());
    let grads = (y * dev.tensor_from_vec(r.clone(), (BATCH, Const, Const, Const)))
        .sum()
        .backward();
    let (gx, gw, gb) = (
        grads.get(&x).as_vec(),
        grads.get(&conv.weight).as_vec(),
        grads.get(&conv.bias).as_vec(),
    );

    let eps = 1e-2;
    for (i, g) in gx.iter().enumerate() {
        let (mut up, mut down) = (x_data.clone(), x_data.clone());
        up[i] += eps;
        down[i] -= eps;
        let numeric = (loss(&conv, &up) - loss(&conv, &down)) / (2.0 * eps as f64);
        assert_close(&format!("dL/dx[{i}]"), *g as f64, numeric, 1e-4, 1e-3);
    }
    for (i, g) in gw.iter().enumerate() {
        let (mut up, mut down) = (conv.clone(), conv.clone());
        bump(&mut up.weight, i, eps);
        bump(&mut down.weight, i, -eps);
        let numeric = (loss(&up, &x_data) - loss(&down, &x_data)) / (2.0 * eps as f64);
        assert_close(&format!("dL/dw[{i}]"), *g as f64, numeric, 1e-4, 1e-3);
    }
    for (i, g) in gb.iter().enumerate() {
        let (mut up, mut down) = (conv.clone(), conv.clone());
        bump(&mut up.bias, i, eps);
        bump(&mut down.bias, i, -eps);
        let numeric = (loss(&up, &x_data) - loss(&down, &x_data)) / (2.0 * eps as f64);
        assert_close(&format!("dL/db[{i}]"), *g as f64, numeric, 1e-4, 1e-3);
    }
    // Sanity: the gradients are not trivially zero.
    assert!(gw.iter().any(|g| g.abs() > 0.1) && gx.iter().any(|g| g.abs() > 0.1));
}

#[test]
fn pool_gradients_match_finite_differences_and_skip_the_floored_edge() {
    let dev = Cpu::default();
    // Distinct values 0.01 apart (a shuffled ramp), so a 1e-3 step never changes a window's maximum.
    let n = BATCH * 5 * 5 * 2;
    let mut values: Vec<f32> = (0..n).map(|i| i as f32 * 0.01 - 0.5).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for i in (1..n).rev() {
        values.swap(i, rng.gen_range(0..=i));
    }
    let r = random(BATCH * 2 * 2 * 2, 6);
    let pool = MaxPool2D::<2, 5, 5, 2, 2>;
    let loss = |x: &[f32]| dot(&pool.forward(nhwc::<5, 5, 2>(&dev, x, BATCH)).as_vec(), &r);
    let x = nhwc::<5, 5, 2>(&dev, &values, BATCH);
    let y = pool.forward(x.leaky_trace());
    let grads = (y * dev.tensor_from_vec(r.clone(), (BATCH, Const, Const, Const)))
        .sum()
        .backward();
    let gx = grads.get(&x).as_vec();
    let eps = 1e-3;
    for (i, g) in gx.iter().enumerate() {
        let (mut up, mut down) = (values.clone(), values.clone());
        up[i] += eps;
        down[i] -= eps;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * eps as f64);
        assert_close(&format!("dL/dx[{i}]"), *g as f64, numeric, 1e-4, 1e-3);
        let (row, col) = ((i / 2) / 5 % 5, (i / 2) % 5);
        if row == 4 || col == 4 {
            assert_eq!(*g, 0.0, "row/column 4 of 5 is dropped by the floor");
        }
    }
    // Exactly one input per window and channel receives each output gradient.
    assert_eq!(gx.iter().filter(|g| **g != 0.0).count(), r.len());
}

/// Mean softmax cross-entropy in f64.
fn cross_entropy(logits: &[f32], labels: &[u8]) -> f64 {
    let mut total = 0.0;
    for (row, &l) in logits.chunks_exact(10).zip(labels) {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let lse = max
            + row
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln();
        total += lse - row[l as usize] as f64;
    }
    total / labels.len() as f64
}

struct Case {
    dev: Cpu,
    cnn: Cnn,
    images: Vec<f32>,
    labels: Vec<u8>,
    mask: Vec<f32>,
}

fn case() -> Case {
    let dev = Cpu::default();
    let mut cnn = Cnn::new(11);
    // Non-zero biases so their gradients are exercised away from the initial state.
    cnn.conv1
        .bias
        .copy_from(&random(32, 12).iter().map(|v| v * 0.1).collect::<Vec<_>>());
    cnn.conv2
        .bias
        .copy_from(&random(64, 13).iter().map(|v| v * 0.1).collect::<Vec<_>>());
    cnn.dense.bias.copy_from(&random(10, 14));
    let images: Vec<f32> = random(BATCH * 784, 15)
        .iter()
        .map(|v| (v + 1.0) / 2.0)
        .collect();
    let mask = hdr_model::dropout_mask(&dev, BATCH, 0.5, 16).as_vec();
    Case {
        dev,
        cnn,
        images,
        labels: vec![3, 7],
        mask,
    }
}

impl Case {
    fn loss(&self, cnn: &Cnn, images: &[f32]) -> f64 {
        let mask = self
            .dev
            .tensor_from_vec(self.mask.clone(), (BATCH, Const::<FEATURES>));
        cross_entropy(
            &cnn.forward(nhwc(&self.dev, images, BATCH), Some(mask), true)
                .as_vec(),
            &self.labels,
        )
    }

    fn targets(&self) -> Tensor<(usize, Const<10>), f32, Cpu> {
        let mut t = vec![0.0; BATCH * 10];
        for (i, &l) in self.labels.iter().enumerate() {
            t[i * 10 + l as usize] = 1.0;
        }
        self.dev.tensor_from_vec(t, (BATCH, Const))
    }
}

fn with_param(cnn: &Cnn, tensor: usize, index: usize, delta: f32) -> Cnn {
    let mut c = cnn.clone();
    match tensor {
        0 => bump(&mut c.conv1.weight, index, delta),
        1 => bump(&mut c.conv1.bias, index, delta),
        2 => bump(&mut c.conv2.weight, index, delta),
        3 => bump(&mut c.conv2.bias, index, delta),
        4 => bump(&mut c.dense.weight, index, delta),
        _ => bump(&mut c.dense.bias, index, delta),
    }
    c
}

/// Parameter gradients as `Learner::train_step` computes them: the images
/// traced into fresh parameter gradients, no gradient w.r.t. the images (so
/// both blocks run their fast backward kernels).
#[test]
fn whole_model_gradients_match_finite_differences() {
    let c = case();
    let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
    let mask = c
        .dev
        .tensor_from_vec(c.mask.clone(), (BATCH, Const::<FEATURES>));
    let logits = c
        .cnn
        .forward(x.traced(c.cnn.alloc_grads()), Some(mask), false);
    let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
    let analytic = [
        grads.get(&c.cnn.conv1.weight).as_vec(),
        grads.get(&c.cnn.conv1.bias).as_vec(),
        grads.get(&c.cnn.conv2.weight).as_vec(),
        grads.get(&c.cnn.conv2.bias).as_vec(),
        grads.get(&c.cnn.dense.weight).as_vec(),
        grads.get(&c.cnn.dense.bias).as_vec(),
    ];
    let eps = 1e-3;
    for (t, g) in analytic.iter().enumerate() {
        // The three largest gradients of each tensor (small ones would only test rounding).
        let mut order: Vec<usize> = (0..g.len()).collect();
        order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        assert!(g[order[0]].abs() > 1e-3, "tensor {t} has no gradient");
        for &i in &order[..3] {
            let up = c.loss(&with_param(&c.cnn, t, i, eps), &c.images);
            let down = c.loss(&with_param(&c.cnn, t, i, -eps), &c.images);
            let numeric = (up - down) / (2.0 * eps as f64);
            assert_close(
                &format!("tensor {t} [{i}]"),
                g[i] as f64,
                numeric,
                2e-4,
                2e-2,
            );
        }
    }
}

/// The gradient w.r.t. the images (the first block's generic backward).
#[test]
fn input_gradients_match_finite_differences() {
    let c = case();
    let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
    let mask = c
        .dev
        .tensor_from_vec(c.mask.clone(), (BATCH, Const::<FEATURES>));
    let logits = c.cnn.forward(x.leaky_trace(), Some(mask), true);
    let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
    let eps = 1e-3;
    let gx = grads.get(&x).as_vec();
    let mut order: Vec<usize> = (0..gx.len()).collect();
    order.sort_by(|&a, &b| gx[b].abs().total_cmp(&gx[a].abs()));
    for &i in &order[..4] {
        let (mut up, mut down) = (c.images.clone(), c.images.clone());
        up[i] += eps;
        down[i] -= eps;
        let numeric = (c.loss(&c.cnn, &up) - c.loss(&c.cnn, &down)) / (2.0 * eps as f64);
        assert_close(&format!("pixel {i}"), gx[i] as f64, numeric, 2e-4, 2e-2);
    }
}

#[test]
fn fused_path_equals_layer_by_layer_path() {
    let c = case();
    let run = |fused: bool| {
        let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
        let mask = c
            .dev
            .tensor_from_vec(c.mask.clone(), (BATCH, Const::<FEATURES>));
        let logits = if fused {
            c.cnn.forward(x.leaky_trace(), Some(mask), true)
        } else {
            c.cnn.forward_layers(x.leaky_trace(), Some(mask))
        };
        let values = logits.retaped::<NoneTape>().as_vec();
        let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
        [
            values,
            grads.get(&x).as_vec(),
            grads.get(&c.cnn.conv1.weight).as_vec(),
            grads.get(&c.cnn.conv1.bias).as_vec(),
            grads.get(&c.cnn.conv2.weight).as_vec(),
            grads.get(&c.cnn.conv2.bias).as_vec(),
            grads.get(&c.cnn.dense.weight).as_vec(),
        ]
    };
    let (fused, layers) = (run(true), run(false));
    for (k, (a, b)) in fused.iter().zip(&layers).enumerate() {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                "quantity {k} [{i}]: fused {x} vs layers {y}"
            );
        }
    }
}

/// The training configuration (no input gradient, so the first block runs its
/// own backward kernel) against the separate typed layers.
#[test]
fn fused_training_path_equals_layer_by_layer_path() {
    let c = case();
    let run = |fused: bool| {
        let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
        let mask = c
            .dev
            .tensor_from_vec(c.mask.clone(), (BATCH, Const::<FEATURES>));
        let logits = if fused {
            c.cnn
                .forward(x.traced(c.cnn.alloc_grads()), Some(mask), false)
        } else {
            c.cnn
                .forward_layers(x.traced(c.cnn.alloc_grads()), Some(mask))
        };
        let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
        [
            grads.get(&c.cnn.conv1.weight).as_vec(),
            grads.get(&c.cnn.conv1.bias).as_vec(),
            grads.get(&c.cnn.conv2.weight).as_vec(),
            grads.get(&c.cnn.conv2.bias).as_vec(),
            grads.get(&c.cnn.dense.weight).as_vec(),
            grads.get(&c.cnn.dense.bias).as_vec(),
        ]
    };
    let (fused, layers) = (run(true), run(false));
    for (k, (a, b)) in fused.iter().zip(&layers).enumerate() {
        assert_eq!(a.len(), b.len());
        assert!(b.iter().any(|v| *v != 0.0), "tensor {k} has no gradient");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                "tensor {k} [{i}]: fused {x} vs layers {y}"
            );
        }
    }
}
