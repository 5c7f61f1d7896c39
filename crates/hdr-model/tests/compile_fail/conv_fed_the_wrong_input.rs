// A second convolution declared for 12x12 inputs fed the 13x13 pooled maps.
use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::seed::{Conv1, Pool1};
use hdr_model::{Conv2D, Nhwc};

fn main() {
    let dev = Cpu::default();
    let x: Nhwc<28, 28, 1> = dev.zeros_like(&(3, Const, Const, Const));
    let a = Pool1::default().forward(Conv1::zeros(&dev).forward(x).relu());
    let _y = Conv2D::<32, 64, 3, 12, 12, 10, 10>::zeros(&dev).forward(a);
}
