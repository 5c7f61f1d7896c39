//! The stratified train/test split.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::NUM_CLASSES;

/// Row indices of each split, ascending (source order is kept within a split).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows of the training split.
    pub train: Vec<u32>,
    /// Rows of the test split.
    pub test: Vec<u32>,
}

/// Splits rows by class: `round(n_c * test_fraction)` rows of each class `c`,
/// chosen by a ChaCha8 shuffle seeded with `seed`, go to `test`; the rest to `train`.
///
/// Same labels, fraction and seed give the same split on every machine.
/// Labels must be `0..=9`.
pub fn stratified_split(labels: &[u8], test_fraction: f64, seed: u64) -> Split {
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); NUM_CLASSES];
    for (row, &label) in labels.iter().enumerate() {
        by_class[usize::from(label)].push(row as u32);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(labels.len());
    let mut test = Vec::with_capacity(labels.len());
    for mut rows in by_class {
        let take = ((rows.len() as f64) * test_fraction).round() as usize;
        rows.shuffle(&mut rng);
        test.extend_from_slice(&rows[..take]);
        train.extend_from_slice(&rows[take..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u8> {
        // Uneven classes: class c has 10 + 7c rows, interleaved.
        let mut labels = Vec::new();
        for round in 0..80 {
            for c in 0..10u8 {
                if round < 10 + 7 * usize::from(c) {
                    labels.push(c);
                }
            }
        }
        labels
    }

    #[test]
    fn each_class_sends_its_rounded_share_to_test() {
        let labels = labels();
        let split = stratified_split(&labels, 0.25, 7);
        for c in 0..10u8 {
            let n = labels.iter().filter(|&&l| l == c).count();
            let in_test = split
                .test
                .iter()
                .filter(|&&r| labels[r as usize] == c)
                .count();
            let in_train = split
                .train
                .iter()
                .filter(|&&r| labels[r as usize] == c)
                .count();
            assert_eq!(in_test, (n as f64 * 0.25).round() as usize, "class {c}");
            assert_eq!(in_train + in_test, n, "class {c}");
        }
    }

    #[test]
    fn splits_partition_the_rows_in_order() {
        let labels = labels();
        let split = stratified_split(&labels, 0.3, 1);
        let mut all: Vec<u32> = split.train.iter().chain(&split.test).copied().collect();
        assert!(split.train.windows(2).all(|w| w[0] < w[1]));
        assert!(split.test.windows(2).all(|w| w[0] < w[1]));
        all.sort_unstable();
        assert_eq!(all, (0..labels.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let labels = labels();
        assert_eq!(
            stratified_split(&labels, 0.2, 42),
            stratified_split(&labels, 0.2, 42)
        );
        assert_ne!(
            stratified_split(&labels, 0.2, 42).test,
            stratified_split(&labels, 0.2, 43).test
        );
    }
}
