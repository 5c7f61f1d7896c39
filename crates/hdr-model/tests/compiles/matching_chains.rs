// The seed's and the deep network's layer chains, with the sizes that do follow.
use hdr_model::dfdx::nn::Module;
use hdr_model::dfdx::prelude::*;
use hdr_model::{conv_relu_pool, deep, seed, Features, Nhwc};

fn main() {
    let dev = Cpu::default();
    let x: Nhwc<28, 28, 1> = dev.zeros_like(&(3, Const, Const, Const));
    let a = conv_relu_pool(&seed::Conv1::zeros(&dev), &seed::Pool1::default(), x.clone(), false);
    let a = conv_relu_pool(&seed::Conv2::zeros(&dev), &seed::Pool2::default(), a, true);
    let _seed: Features<1600> = seed::Flat::default().forward(a);

    let a = deep::Conv1::zeros(&dev).forward(x).relu();
    let a = conv_relu_pool(&deep::Conv2::zeros(&dev), &deep::Pool1::default(), a, true);
    let a = deep::Conv3::zeros(&dev).forward(a).relu();
    let a = conv_relu_pool(&deep::Conv4::zeros(&dev), &deep::Pool2::default(), a, true);
    let _deep: Features<1024> = deep::Flat::default().forward(a);
}
