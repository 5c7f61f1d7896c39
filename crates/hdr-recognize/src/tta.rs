//! Test-time augmentation: an input read as the average of itself and its
//! copies moved one pixel left, right, up and down, so a digit drawn a
//! little off the centre MNIST's writers kept is read as they would be.
//! Measured with `examples/tta_trial.rs` (docs/benchmarks.md): about a
//! point on other writers' digits for about four times the model's time.

use hdr_model::{Prediction, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// The shifts, in pixels (x, y), the original first.
pub(crate) const OFFSETS: [(isize, isize); 5] = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)];

/// `input` moved by (dx, dy) pixels; what comes in at the edge is background.
pub(crate) fn shifted(input: &[u8; IMAGE_PIXELS], dx: isize, dy: isize) -> [u8; IMAGE_PIXELS] {
    let side = IMAGE_SIDE as isize;
    let mut out = [0u8; IMAGE_PIXELS];
    for y in 0..side {
        for x in 0..side {
            let (from_x, from_y) = (x - dx, y - dy);
            if (0..side).contains(&from_x) && (0..side).contains(&from_y) {
                out[(y * side + x) as usize] = input[(from_y * side + from_x) as usize];
            }
        }
    }
    out
}

/// The copies of every input, [`OFFSETS`] in order, inputs in order.
pub(crate) fn copies(inputs: &[[u8; IMAGE_PIXELS]]) -> Vec<[u8; IMAGE_PIXELS]> {
    inputs
        .iter()
        .flat_map(|input| OFFSETS.iter().map(|&(dx, dy)| shifted(input, dx, dy)))
        .collect()
}

/// One prediction from its copies': the mean of their probabilities (summed
/// in f64), and the most probable digit (the lowest of equals).
pub(crate) fn average(copies: &[Prediction]) -> Prediction {
    let mut sums = [0f64; NUM_CLASSES];
    for copy in copies {
        for (sum, &p) in sums.iter_mut().zip(&copy.probabilities) {
            *sum += f64::from(p);
        }
    }
    let probabilities = sums.map(|s| (s / copies.len() as f64) as f32);
    let mut digit = 0;
    for d in 1..NUM_CLASSES {
        if probabilities[d] > probabilities[digit] {
            digit = d;
        }
    }
    Prediction {
        digit: digit as u8,
        probabilities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_move_ink_and_bring_in_background() {
        let mut input = [0u8; IMAGE_PIXELS];
        input[IMAGE_SIDE + 1] = 200; // (x 1, y 1)
        input[IMAGE_PIXELS - 1] = 9; // the bottom-right corner
        let right = shifted(&input, 1, 0);
        assert_eq!(right[IMAGE_SIDE + 2], 200);
        assert_eq!(
            right.iter().map(|&v| u32::from(v)).sum::<u32>(),
            200,
            "the corner left"
        );
        let up = shifted(&input, 0, -1);
        assert_eq!(up[1], 200);
        assert_eq!(shifted(&input, 0, 0), input);
        assert_eq!(copies(&[input, right]).len(), 2 * OFFSETS.len());
    }

    #[test]
    fn the_average_sums_to_one_and_picks_the_most_probable() {
        let p = |digit: u8, probabilities: [f32; NUM_CLASSES]| Prediction {
            digit,
            probabilities,
        };
        let mut a = [0.0; NUM_CLASSES];
        a[3] = 0.6;
        a[5] = 0.4;
        let mut b = [0.0; NUM_CLASSES];
        b[5] = 0.9;
        b[3] = 0.1;
        let mean = average(&[p(3, a), p(5, b)]);
        assert_eq!(mean.digit, 5);
        assert!((mean.probabilities[5] - 0.65).abs() < 1e-6);
        assert!((mean.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
