//! Labelled digit images in memory, as the split files hold them.

use crate::{IMAGE_PIXELS, NUM_CLASSES};

/// Labelled digit images held in memory: `pixels` is row-major, 784 bytes per image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// One label 0..=9 per image.
    pub labels: Vec<u8>,
    /// `labels.len() * 784` grey levels, image after image, row by row.
    pub pixels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]
    }

    /// How many images each class 0..=9 has.
    ///
    /// # Panics
    /// If a label is above 9 (the readers reject such files).
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0usize; NUM_CLASSES];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    /// The images at `rows`, in that order.
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        Dataset {
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            pixels: rows.iter().flat_map(|&i| self.image(i)).copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_counts_and_subsets() {
        let data = Dataset {
            labels: vec![3, 1, 3],
            pixels: (0..3 * IMAGE_PIXELS)
                .map(|i| (i / IMAGE_PIXELS) as u8)
                .collect(),
        };
        assert_eq!(data.len(), 3);
        assert!(data.image(2).iter().all(|&p| p == 2));
        assert_eq!(data.class_counts(), [0, 1, 0, 2, 0, 0, 0, 0, 0, 0]);
        let picked = data.subset(&[2, 0]);
        assert_eq!(picked.labels, vec![3, 3]);
        assert!(picked.image(0).iter().all(|&p| p == 2));
        assert!(picked.image(1).iter().all(|&p| p == 0));
        assert!(Dataset::default().is_empty());
    }
}
