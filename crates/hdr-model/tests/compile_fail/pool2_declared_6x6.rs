// The seed's second pooling declared 6x6 (rounding up): floor(11 / 2) is 5.
use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::{MaxPool2D, Nhwc};

fn main() {
    let dev = Cpu::default();
    let x: Nhwc<11, 11, 64> = dev.zeros_like(&(1, Const, Const, Const));
    let _y = MaxPool2D::<2, 11, 11, 6, 6>.forward(x);
}
