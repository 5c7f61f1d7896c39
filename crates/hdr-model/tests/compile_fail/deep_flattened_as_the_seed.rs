// The deep network's 4x4x64 maps flattened with the seed's 5x5x64 Flatten.
use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::deep::{Conv1, Conv2, Conv3, Conv4, Pool1, Pool2};
use hdr_model::{conv_relu_pool, seed, Nhwc};

fn main() {
    let dev = Cpu::default();
    let x: Nhwc<28, 28, 1> = dev.zeros_like(&(3, Const, Const, Const));
    let a = Conv1::zeros(&dev).forward(x).relu();
    let a = conv_relu_pool(&Conv2::zeros(&dev), &Pool1::default(), a, true);
    let a = Conv3::zeros(&dev).forward(a).relu();
    let a = conv_relu_pool(&Conv4::zeros(&dev), &Pool2::default(), a, true);
    let _features = seed::Flat::default().forward(a);
}
