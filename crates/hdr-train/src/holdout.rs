//! The stratified, seeded validation hold-out.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::seeds::{derive_seed, Stream};

/// Indices of the images kept for training and held out for validation, each ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdout {
    /// Images trained on.
    pub train: Vec<usize>,
    /// Images validated on.
    pub validation: Vec<usize>,
}

/// Holds out `fraction` of each class with [`hdr_common::stratified_split_with`]
/// (rounded to the nearest image, always leaving at least one image of the
/// class for training), each class shuffled by its own generator seeded from
/// `seed` and the class. Returns `None` when either side would be empty.
pub fn stratified(labels: &[u8], fraction: f64, seed: u64) -> Option<Holdout> {
    let split = hdr_common::stratified_split_with(labels, fraction, |class, rows| {
        let class_seed = derive_seed(seed, Stream::Holdout, u64::from(class), 0);
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(class_seed));
    });
    if split.kept.is_empty() || split.held_out.is_empty() {
        return None;
    }
    let indices = |rows: Vec<u32>| rows.into_iter().map(|r| r as usize).collect();
    Some(Holdout {
        train: indices(split.kept),
        validation: indices(split.held_out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_out_the_fraction_of_every_class() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let split = stratified(&labels, 0.1, 42).unwrap();
        assert_eq!(split.validation.len(), 100);
        assert_eq!(split.train.len(), 900);
        for class in 0..10u8 {
            let held = split
                .validation
                .iter()
                .filter(|&&i| labels[i] == class)
                .count();
            assert_eq!(held, 10, "class {class}");
        }
        let mut all: Vec<usize> = split
            .train
            .iter()
            .chain(&split.validation)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..1000).collect::<Vec<_>>(),
            "a partition of the images"
        );
    }

    #[test]
    fn is_seeded() {
        let labels: Vec<u8> = (0..500).map(|i| (i * 7 % 10) as u8).collect();
        assert_eq!(stratified(&labels, 0.2, 1), stratified(&labels, 0.2, 1));
        assert_ne!(stratified(&labels, 0.2, 1), stratified(&labels, 0.2, 2));
    }

    #[test]
    fn too_few_images_give_none() {
        assert_eq!(
            stratified(&[3, 4], 0.1, 0),
            None,
            "nothing rounds up to a validation image"
        );
        assert_eq!(stratified(&[], 0.5, 0), None);
        assert!(stratified(&[3, 3, 4, 4], 0.5, 0).is_some());
    }

    /// The hold-out as it was before it shared the data stage's split code.
    fn holdout_before(labels: &[u8], fraction: f64, seed: u64) -> Option<Holdout> {
        let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for (i, &label) in labels.iter().enumerate() {
            by_class[label as usize].push(i);
        }
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        for (class, mut members) in by_class.into_iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let mut rng =
                ChaCha8Rng::seed_from_u64(derive_seed(seed, Stream::Holdout, class as u64, 0));
            members.shuffle(&mut rng);
            let held = ((members.len() as f64 * fraction).round() as usize).min(members.len() - 1);
            validation.extend_from_slice(&members[..held]);
            train.extend_from_slice(&members[held..]);
        }
        if train.is_empty() || validation.is_empty() {
            return None;
        }
        train.sort_unstable();
        validation.sort_unstable();
        Some(Holdout { train, validation })
    }

    #[test]
    fn holds_out_the_same_images_as_before() {
        // The default pipeline's validation images (and so its weights) are unchanged.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for case in 0..40u64 {
            let n = (case as usize * 131) % 2500;
            let classes = 1 + (case % 12) as u8;
            let labels: Vec<u8> = (0..n)
                .map(|_| rand::Rng::gen_range(&mut rng, 0..classes))
                .collect();
            for fraction in [0.05, 0.1, 0.5, 0.9] {
                assert_eq!(
                    stratified(&labels, fraction, case),
                    holdout_before(&labels, fraction, case),
                    "case {case}, fraction {fraction}"
                );
            }
        }
    }
}
