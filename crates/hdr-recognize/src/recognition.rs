//! What the model says about one image.

use hdr_model::{Prediction, IMAGE_PIXELS, NUM_CLASSES};

/// The digit recognised in one image, how sure the model is, and the input it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// The most probable digit.
    pub digit: u8,
    /// Its probability, in [0, 1].
    pub confidence: f32,
    /// The three most probable digits with their probabilities, most probable
    /// first (equal probabilities in digit order).
    pub top3: [(u8, f32); 3],
    /// The probability of every digit 0..=9, summing to 1.
    pub probabilities: [f32; NUM_CLASSES],
    /// The 28x28 image the model saw (row-major, 0 = background, 255 = ink).
    pub input: [u8; IMAGE_PIXELS],
}

impl Recognition {
    /// Builds the answer for one image from the classifier's prediction.
    pub(crate) fn new(prediction: &Prediction, input: [u8; IMAGE_PIXELS]) -> Self {
        let mut order: [u8; NUM_CLASSES] = std::array::from_fn(|d| d as u8);
        order.sort_by(|&a, &b| {
            prediction.probabilities[b as usize]
                .total_cmp(&prediction.probabilities[a as usize])
                .then(a.cmp(&b))
        });
        Self {
            digit: prediction.digit,
            confidence: prediction.confidence(),
            top3: std::array::from_fn(|i| (order[i], prediction.probabilities[order[i] as usize])),
            probabilities: prediction.probabilities,
            input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top3_is_sorted_by_probability_then_digit() {
        let mut probabilities = [0.0f32; NUM_CLASSES];
        probabilities[7] = 0.9;
        probabilities[1] = 0.05;
        probabilities[9] = 0.03;
        probabilities[4] = 0.01;
        probabilities[2] = 0.01;
        let p = Recognition::new(
            &Prediction {
                digit: 7,
                probabilities,
            },
            [0; IMAGE_PIXELS],
        );
        assert_eq!(p.top3, [(7, 0.9), (1, 0.05), (9, 0.03)]);
        assert_eq!(p.confidence, 0.9);
        probabilities[9] = 0.01;
        let tie = Recognition::new(
            &Prediction {
                digit: 7,
                probabilities,
            },
            [0; IMAGE_PIXELS],
        );
        assert_eq!(tie.top3, [(7, 0.9), (1, 0.05), (2, 0.01)]);
    }
}
