//! Gradient checks against central finite differences, and the fused fast
//! path against the layer-by-layer reference.
//!
//! The kernels are f32, so the finite differences are taken on f32 forwards
//! with the loss accumulated in f64. Convolution is linear in its input and
//! weights and max pooling is piecewise linear, so for those the central
//! difference is exact up to rounding and the tolerance can be tight.

use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::{params, Cnn, Conv2D, Deep, Dropout, MaxPool2D, Network, Nhwc};
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

const BATCH: usize = 2;

/// Finite differences against the analytic gradients of one 3x3 convolution.
fn conv_gradients_match<
    const IC: usize,
    const OC: usize,
    const IH: usize,
    const IW: usize,
    const OH: usize,
    const OW: usize,
>() {
    let dev = Cpu::default();
    let mut conv = Conv2D::<IC, OC, 3, IH, IW, OH, OW>::zeros(&dev);
    conv.weight.copy_from(&random(3 * 3 * IC * OC, 1));
    conv.bias.copy_from(&random(OC, 2));
    let x_data = random(BATCH * IH * IW * IC, 3);
    let r = random(BATCH * OH * OW * OC, 4); // loss = sum(out * r)
    let loss = |conv: &Conv2D<IC, OC, 3, IH, IW, OH, OW>, x: &[f32]| {
        dot(
            &conv.forward(nhwc::<IH, IW, IC>(&dev, x, BATCH)).as_vec(),
            &r,
        )
    };

    let x = nhwc::<IH, IW, IC>(&dev, &x_data, BATCH);
    let y = conv.forward(x.leaky_trace());
    let grads = (y * dev.tensor_from_vec(r.clone(), (BATCH, Const, Const, Const)))
        .sum()
        .backward();
    let (gx, gw, gb) = (
        grads.get(&x).as_vec(),
        grads.get(&conv.weight).as_vec(),
        grads.get(&conv.bias).as_vec(),
    );

    // The loss is linear in each input and parameter, so a central
    // difference is exact at any step; a large one keeps f32 noise small.
    let eps = 0.25;
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

/// Few channels: im2col. Non-square, so a transposed index would show.
#[test]
fn conv_gradients_match_finite_differences() {
    conv_gradients_match::<2, 3, 6, 5, 4, 3>();
}

/// Enough channels for Winograd: F(4x4, 3x3) on a 5x4 output, F(2x2, 3x3)
/// on a 2x1 one (too small for a 4x4 tile); odd output sizes, so edge
/// tiles reach past the input and past the output.
#[test]
fn winograd_conv_gradients_match_finite_differences() {
    conv_gradients_match::<8, 9, 7, 6, 5, 4>();
    conv_gradients_match::<8, 9, 4, 3, 2, 1>();
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

const DROPOUT: Dropout = Dropout {
    rate: 0.5,
    seed: 16,
};

struct Case<N> {
    dev: Cpu,
    net: N,
    images: Vec<f32>,
    labels: Vec<u8>,
}

/// A network with non-zero biases (so their gradients are exercised away
/// from the initial state) and two images.
fn case<N: Network>(net: N) -> Case<N> {
    let mut net = net;
    let biases: Vec<String> = params(&net)
        .into_iter()
        .filter(|p| p.shape.len() == 1)
        .map(|p| p.name)
        .collect();
    for (k, name) in biases.iter().enumerate() {
        net = with_param(&net, name, None, Some(k as u64 + 12));
    }
    let images: Vec<f32> = random(BATCH * 784, 15)
        .iter()
        .map(|v| (v + 1.0) / 2.0)
        .collect();
    Case {
        dev: Cpu::default(),
        net,
        images,
        labels: vec![3, 7],
    }
}

impl<N: Network> Case<N> {
    fn loss(&self, net: &N, images: &[f32]) -> f64 {
        cross_entropy(
            &net.forward(nhwc(&self.dev, images, BATCH), Some(DROPOUT), true)
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

    /// The parameter gradients in parameter order.
    fn param_grads(&self, grads: &Gradients<f32, Cpu>) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for_each_tensor(&self.net, |t| out.push(t.grad_in(grads)));
        out
    }
}

/// Calls `f` on every parameter tensor of `net`, in parameter order.
fn for_each_tensor<N: Network>(net: &N, mut f: impl FnMut(&dyn GradOf)) {
    use hdr_model::dfdx::nn::tensor_collection::*;
    struct Walk<'a>(&'a mut dyn FnMut(&dyn GradOf));
    impl TensorVisitor<f32, Cpu> for Walk<'_> {
        type Viewer = ViewTensorRef;
        type Err = ();
        type E2 = f32;
        type D2 = Cpu;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, Cpu>,
            t: &Tensor<S, f32, Cpu>,
        ) -> Result<Option<Tensor<S, f32, Cpu>>, ()> {
            (self.0)(t);
            Ok(None)
        }
    }
    let _ = N::iter_tensors(&mut RecursiveWalker {
        m: net,
        f: &mut Walk(&mut f),
    });
}

/// A parameter tensor whose gradient can be looked up.
trait GradOf {
    fn grad_in(&self, grads: &Gradients<f32, Cpu>) -> Vec<f32>;
}

impl<S: Shape> GradOf for Tensor<S, f32, Cpu> {
    fn grad_in(&self, grads: &Gradients<f32, Cpu>) -> Vec<f32> {
        grads.get(self).as_vec()
    }
}

/// `net` with parameter `name` changed: element `index` moved by `delta`,
/// or (with `fill_seed`) every element set to small random values.
fn with_param<N: Network>(
    net: &N,
    name: &str,
    bump: Option<(usize, f32)>,
    fill_seed: Option<u64>,
) -> N {
    let mut file = hdr_model::TensorFile::new();
    for mut p in params(net) {
        if p.name == name {
            if let Some((index, delta)) = bump {
                p.values[index] += delta;
            }
            if let Some(seed) = fill_seed {
                p.values = random(p.values.len(), seed)
                    .iter()
                    .map(|v| v * 0.1)
                    .collect();
            }
        }
        file.push_f32(p.name, &p.shape, &p.values);
    }
    file.take_weights::<N>("").unwrap()
}

/// Parameter gradients as `Learner::train_step` computes them: the images
/// traced into fresh parameter gradients, no gradient w.r.t. the images (so
/// the seed's blocks run their fast backward kernels).
/// `eps` is the step of the central difference and `rel` the relative
/// tolerance: a deeper network has more ReLU and pooling kinks for a step to
/// cross, and a smaller step loses more to the f32 forward's rounding.
fn whole_model_gradients_match_finite_differences<N: Network>(net: N, eps: f32, rel: f64) {
    let c = case(net);
    let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
    let logits = c
        .net
        .forward(x.traced(c.net.alloc_grads()), Some(DROPOUT), false);
    let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
    let analytic = c.param_grads(&grads);
    for (p, g) in params(&c.net).iter().zip(&analytic) {
        // The three largest gradients of each tensor (small ones would only test rounding).
        let mut order: Vec<usize> = (0..g.len()).collect();
        order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        assert!(g[order[0]].abs() > 1e-3, "{} has no gradient", p.name);
        for &i in &order[..3] {
            let up = c.loss(
                &with_param(&c.net, &p.name, Some((i, eps)), None),
                &c.images,
            );
            let down = c.loss(
                &with_param(&c.net, &p.name, Some((i, -eps)), None),
                &c.images,
            );
            let numeric = (up - down) / (2.0 * eps as f64);
            assert_close(
                &format!("{} [{i}]", p.name),
                g[i] as f64,
                numeric,
                2e-4,
                rel,
            );
        }
    }
}

#[test]
fn seed_gradients_match_finite_differences() {
    whole_model_gradients_match_finite_differences(Cnn::new(11), 1e-3, 2e-2);
}

#[test]
fn deep_gradients_match_finite_differences() {
    // Five ReLU layers: kinks lie closer, so a smaller step; and its f32
    // forward (Winograd F(4x4, 3x3)) rounds more, which a small step
    // magnifies, so a looser tolerance.
    whole_model_gradients_match_finite_differences(Deep::new(11), 1e-4, 3e-2);
}

/// The gradient w.r.t. the images (the first block's generic backward).
fn input_gradients_match_finite_differences<N: Network>(net: N) {
    let c = case(net);
    let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
    let logits = c.net.forward(x.leaky_trace(), Some(DROPOUT), true);
    let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
    let eps = 1e-3;
    let gx = grads.get(&x).as_vec();
    let mut order: Vec<usize> = (0..gx.len()).collect();
    order.sort_by(|&a, &b| gx[b].abs().total_cmp(&gx[a].abs()));
    for &i in &order[..4] {
        let (mut up, mut down) = (c.images.clone(), c.images.clone());
        up[i] += eps;
        down[i] -= eps;
        let numeric = (c.loss(&c.net, &up) - c.loss(&c.net, &down)) / (2.0 * eps as f64);
        assert_close(&format!("pixel {i}"), gx[i] as f64, numeric, 2e-4, 2e-2);
    }
}

#[test]
fn seed_input_gradients_match_finite_differences() {
    input_gradients_match_finite_differences(Cnn::new(11));
}

#[test]
fn deep_input_gradients_match_finite_differences() {
    input_gradients_match_finite_differences(Deep::new(11));
}

/// The fused layers (with and without the input gradient, so both of the
/// first block's backward kernels run) against the separate typed layers.
fn fused_path_equals_layer_by_layer_path<N: Network>(net: N, input_grad: bool) {
    let c = case(net);
    let run = |fused: bool| {
        let x = nhwc::<28, 28, 1>(&c.dev, &c.images, BATCH);
        let traced = if input_grad {
            x.leaky_trace()
        } else {
            x.clone().traced(c.net.alloc_grads())
        };
        let logits = if fused {
            c.net.forward(traced, Some(DROPOUT), input_grad)
        } else {
            c.net.forward_layers(traced, Some(DROPOUT))
        };
        let values = logits.retaped::<NoneTape>().as_vec();
        let grads = cross_entropy_with_logits_loss(logits, c.targets()).backward();
        let mut all = vec![values];
        if input_grad {
            all.push(grads.get(&x).as_vec());
        }
        all.extend(c.param_grads(&grads));
        all
    };
    let (fused, layers) = (run(true), run(false));
    for (k, (a, b)) in fused.iter().zip(&layers).enumerate() {
        assert_eq!(a.len(), b.len());
        assert!(b.iter().any(|v| *v != 0.0), "quantity {k} is all zero");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                "quantity {k} [{i}]: fused {x} vs layers {y}"
            );
        }
    }
}

#[test]
fn fused_path_equals_layer_by_layer_path_with_input_gradient() {
    fused_path_equals_layer_by_layer_path(Cnn::new(11), true);
    fused_path_equals_layer_by_layer_path(Deep::new(11), true);
}

/// The training configuration (no input gradient, so the seed's first block
/// runs its own backward kernel) against the separate typed layers.
#[test]
fn fused_training_path_equals_layer_by_layer_path() {
    fused_path_equals_layer_by_layer_path(Cnn::new(11), false);
    fused_path_equals_layer_by_layer_path(Deep::new(11), false);
}
