// A dense layer expecting 1700 inputs after the seed's 1600-wide flatten.
use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::seed::Flat;
use hdr_model::{Linear, Nhwc};

fn main() {
    let dev = Cpu::default();
    let dense: Linear<1700, 10, f32, Cpu> = Linear {
        weight: dev.zeros(),
        bias: dev.zeros(),
    };
    let x: Nhwc<5, 5, 64> = dev.zeros_like(&(3, Const, Const, Const));
    let _logits = dense.forward(Flat::default().forward(x));
}
