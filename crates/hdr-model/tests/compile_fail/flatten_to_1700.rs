// Flatten declared to 1700 features: 5 * 5 * 64 is 1600.
use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::{Flatten, Nhwc};

fn main() {
    let dev = Cpu::default();
    let x: Nhwc<5, 5, 64> = dev.zeros_like(&(1, Const, Const, Const));
    let _y = Flatten::<5, 5, 64, 1700>.forward(x);
}
