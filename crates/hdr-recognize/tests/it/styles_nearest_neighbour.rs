//! Model-free check of preprocessing: digits photographed in different styles
//! and preprocessed are recognised by a 1-nearest-neighbour classifier over
//! raw MNIST digits about as well as the 28x28 originals themselves. Pixel
//! distance punishes a misplaced or mis-scaled digit much harder than a CNN
//! does, so this pins down size and centring.

use hdr_recognize::preprocess;
use hdr_testkit::{load_sample, nearest_label, Style};
use image::DynamicImage;

const TRAIN: std::ops::Range<usize> = 0..3000;
const HELD_OUT: std::ops::Range<usize> = 9700..10000;

#[test]
fn styles_are_recognised_like_originals_by_nearest_neighbour() {
    let train = load_sample(TRAIN);
    let held_out = load_sample(HELD_OUT);
    let accuracy = |prepared: &dyn Fn(usize) -> [u8; 784]| -> f64 {
        let correct = (0..held_out.len())
            .filter(|&i| nearest_label(&train, &prepared(i)) == held_out.labels[i])
            .count();
        correct as f64 / held_out.len() as f64
    };

    let original = accuracy(&|i| held_out.image(i).try_into().unwrap());
    eprintln!("1-NN accuracy on {} held-out digits:", held_out.len());
    eprintln!("  {:<32} {:.1}%", "28x28 originals", original * 100.0);
    let passthrough = accuracy(&|i| {
        preprocess(&DynamicImage::ImageLuma8(hdr_testkit::as_image(
            held_out.image(i),
        )))
        .expect("original has ink")
    });
    eprintln!(
        "  {:<32} {:.1}%",
        "originals, preprocessed",
        passthrough * 100.0
    );

    let mut failures = Vec::new();
    for style in Style::ALL {
        let styled = accuracy(&|i| {
            preprocess(&style.render(held_out.image(i), i))
                .unwrap_or_else(|e| panic!("{}: digit {i}: {e}", style.name()))
        });
        eprintln!("  {:<32} {:.1}%", style.name(), styled * 100.0);
        if styled < original - 0.03 {
            failures.push(format!(
                "{}: {:.1}% vs {:.1}%",
                style.name(),
                styled * 100.0,
                original * 100.0
            ));
        }
    }
    assert!(
        passthrough >= original - 0.03,
        "preprocessing originals costs accuracy: {passthrough} vs {original}"
    );
    assert!(
        failures.is_empty(),
        "styles recognised worse than originals: {failures:?}"
    );
}
