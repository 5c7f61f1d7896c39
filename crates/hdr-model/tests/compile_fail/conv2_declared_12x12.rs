// The seed's second convolution declared with a 12x12 output: 13 - 3 + 1 is 11.
use hdr_model::dfdx::prelude::*;
use hdr_model::Conv2D;

fn main() {
    let dev = Cpu::default();
    let _conv2 = Conv2D::<32, 64, 3, 13, 13, 12, 12>::zeros(&dev);
}
