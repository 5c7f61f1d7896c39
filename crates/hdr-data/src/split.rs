//! The data stage's train/test split: the stratified split of
//! [`hdr_common::stratified_split_with`] (the train stage's validation
//! hold-out uses it too), each class shuffled in turn by one ChaCha8
//! generator seeded with `data.seed`.

use hdr_common::{stratified_split_with, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The data stage's split: [`stratified_split_with`] shuffling each class in
/// turn with one ChaCha8 generator seeded with `seed`. `held_out` is the test split.
pub fn stratified_split(labels: &[u8], fraction: f64, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    stratified_split_with(labels, fraction, |_, rows| rows.shuffle(&mut rng))
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

    fn count(rows: &[u32], labels: &[u8], class: u8) -> usize {
        rows.iter()
            .filter(|&&r| labels[r as usize] == class)
            .count()
    }

    #[test]
    fn each_class_sends_its_rounded_share_to_the_held_out_side() {
        let labels = labels();
        let split = stratified_split(&labels, 0.25, 7);
        for c in 0..10u8 {
            let n = labels.iter().filter(|&&l| l == c).count();
            let held = count(&split.held_out, &labels, c);
            assert_eq!(held, (n as f64 * 0.25).round() as usize, "class {c}");
            assert_eq!(count(&split.kept, &labels, c) + held, n, "class {c}");
        }
    }

    #[test]
    fn every_class_keeps_at_least_one_row() {
        // Class 3 has one row, class 4 two: a fraction of 0.9 would take them all.
        let labels = [3u8, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5];
        let split = stratified_split(&labels, 0.9, 1);
        assert_eq!(count(&split.kept, &labels, 3), 1);
        assert_eq!(count(&split.kept, &labels, 4), 1);
        assert_eq!(count(&split.held_out, &labels, 4), 1);
        assert_eq!(count(&split.held_out, &labels, 5), 9);
        assert_eq!(stratified_split(&[], 0.5, 0).kept, Vec::<u32>::new());
    }

    #[test]
    fn sides_partition_the_rows_in_order() {
        let labels = labels();
        let split = stratified_split(&labels, 0.3, 1);
        assert!(split.kept.windows(2).all(|w| w[0] < w[1]));
        assert!(split.held_out.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<u32> = split.kept.iter().chain(&split.held_out).copied().collect();
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
            stratified_split(&labels, 0.2, 42).held_out,
            stratified_split(&labels, 0.2, 43).held_out
        );
    }

    /// The data stage's split as it was before the hold-out shared this code
    /// (one ChaCha8 stream over classes 0..=9, no minimum per class).
    fn data_split_before(labels: &[u8], fraction: f64, seed: u64) -> (Vec<u32>, Vec<u32>) {
        let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); 10];
        for (row, &label) in labels.iter().enumerate() {
            by_class[usize::from(label)].push(row as u32);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for mut rows in by_class {
            let take = ((rows.len() as f64) * fraction).round() as usize;
            rows.shuffle(&mut rng);
            test.extend_from_slice(&rows[..take]);
            train.extend_from_slice(&rows[take..]);
        }
        train.sort_unstable();
        test.sort_unstable();
        (train, test)
    }

    #[test]
    fn splits_are_those_of_the_former_data_split() {
        // Random labels of many sizes, every class large enough that the old
        // code never moved all of one to the test side (as on real data): the
        // splits, and so the data stage's files, are unchanged.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for case in 0..40u64 {
            let n = 300 + (case as usize * 97) % 3000;
            let labels: Vec<u8> = (0..n)
                .map(|_| rand::Rng::gen_range(&mut rng, 0..10u8))
                .collect();
            for fraction in [0.1, 0.2, 0.25, 0.5] {
                let split = stratified_split(&labels, fraction, case);
                let (train, test) = data_split_before(&labels, fraction, case);
                assert_eq!((split.kept, split.held_out), (train, test), "case {case}");
            }
        }
    }
}
