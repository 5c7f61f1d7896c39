//! Test-time augmentation: a digit read as the mean of itself and its four
//! one-pixel shifts, the same whichever way it comes in.

use hdr_model::Cnn;
use hdr_recognize::{Recognizer, IMAGE_PIXELS, IMAGE_SIDE};

/// A bar of ink off the centre, as a raw 28x28 input.
fn bar() -> [u8; IMAGE_PIXELS] {
    let mut input = [0u8; IMAGE_PIXELS];
    for y in 5..23 {
        for x in 11..15 {
            input[y * IMAGE_SIDE + x] = 230;
        }
    }
    input
}

/// `input` moved by (dx, dy), background coming in at the edge.
fn moved(input: &[u8; IMAGE_PIXELS], dx: isize, dy: isize) -> [u8; IMAGE_PIXELS] {
    std::array::from_fn(|i| {
        let (x, y) = (
            (i % IMAGE_SIDE) as isize - dx,
            (i / IMAGE_SIDE) as isize - dy,
        );
        let side = IMAGE_SIDE as isize;
        if (0..side).contains(&x) && (0..side).contains(&y) {
            input[(y * side + x) as usize]
        } else {
            0
        }
    })
}

#[test]
fn a_digit_is_read_as_the_mean_of_its_shifted_copies() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.safetensors");
    std::fs::write(&model, Cnn::new(11).to_safetensors()).unwrap();
    let plain = Recognizer::load(&model).unwrap();
    let averaged = plain.clone().with_test_time_augmentation(true);

    let input = bar();
    let copies: Vec<_> = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
        .iter()
        .map(|&(dx, dy)| moved(&input, dx, dy))
        .collect();
    let each = plain.recognize_batch(&copies).unwrap();
    let read = averaged.recognize_pixels(&input).unwrap();
    for digit in 0..10 {
        let mean = each.iter().map(|r| r.probabilities[digit]).sum::<f32>() / 5.0;
        assert!((read.probabilities[digit] - mean).abs() < 1e-6, "{digit}");
    }
    assert_ne!(
        read.probabilities, each[0].probabilities,
        "the copies count"
    );
    assert_eq!(read.input, input, "the input shown is the one given");
    // A batch reads each image as it reads it alone.
    let batch = averaged
        .recognize_batch(&[input, moved(&input, 3, 2)])
        .unwrap();
    assert_eq!(batch[0], read);
}
