//! Stratified splitting: holding out a share of each class. The data stage's
//! seeded train/test split (`hdr_data::stratified_split`) and the train
//! stage's validation hold-out are both this one algorithm, each with its
//! own shuffle.

/// Row indices of the two sides of a split, each ascending (source order is
/// kept within a side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows kept (the train side).
    pub kept: Vec<u32>,
    /// Rows held out (the test or validation side).
    pub held_out: Vec<u32>,
}

/// Splits rows class by class: of the `n` rows of each class, `round(n *
/// fraction)` go to `held_out` — but never all `n`, so every class present
/// keeps at least one row — and the rest stay in `kept`. Which rows are held
/// out is decided by `shuffle(class, rows)`, which puts the class's rows (in
/// source order) in a random order; the first ones are held out.
///
/// Classes are visited in ascending order, so a `shuffle` drawing from one
/// seeded generator gives the same split on every machine.
pub fn stratified_split_with(
    labels: &[u8],
    fraction: f64,
    mut shuffle: impl FnMut(u8, &mut [u32]),
) -> Split {
    let classes = labels
        .iter()
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(0);
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for (row, &label) in labels.iter().enumerate() {
        by_class[usize::from(label)].push(row as u32);
    }
    let mut kept = Vec::with_capacity(labels.len());
    let mut held_out = Vec::new();
    for (class, mut rows) in by_class.into_iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        shuffle(class as u8, &mut rows);
        let held = ((rows.len() as f64 * fraction).round() as usize).min(rows.len() - 1);
        held_out.extend_from_slice(&rows[..held]);
        kept.extend_from_slice(&rows[held..]);
    }
    kept.sort_unstable();
    held_out.sort_unstable();
    Split { kept, held_out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(rows: &[u32], labels: &[u8], class: u8) -> usize {
        rows.iter()
            .filter(|&&r| labels[r as usize] == class)
            .count()
    }

    /// No shuffle: each class's first rows (in source order) are held out.
    fn in_order(_: u8, _: &mut [u32]) {}

    #[test]
    fn the_shuffle_sees_each_class_in_ascending_order() {
        let labels = [2u8, 0, 2, 7, 0];
        let mut seen = Vec::new();
        let split = stratified_split_with(&labels, 0.5, |class, rows| {
            seen.push((class, rows.to_vec()));
            rows.reverse();
        });
        assert_eq!(seen, vec![(0, vec![1, 4]), (2, vec![0, 2]), (7, vec![3])]);
        assert_eq!(split.held_out, vec![2, 4]);
        assert_eq!(split.kept, vec![0, 1, 3]);
    }

    #[test]
    fn each_class_sends_its_rounded_share_to_the_held_out_side() {
        // Class c has 10 + 7c rows, interleaved.
        let labels: Vec<u8> = (0..80)
            .flat_map(|round| (0..10u8).filter(move |&c| round < 10 + 7 * usize::from(c)))
            .collect();
        let split = stratified_split_with(&labels, 0.25, in_order);
        for c in 0..10u8 {
            let n = labels.iter().filter(|&&l| l == c).count();
            let held = count(&split.held_out, &labels, c);
            assert_eq!(held, (n as f64 * 0.25).round() as usize, "class {c}");
            assert_eq!(count(&split.kept, &labels, c) + held, n, "class {c}");
        }
        let mut all: Vec<u32> = split.kept.iter().chain(&split.held_out).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..labels.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn every_class_keeps_at_least_one_row() {
        // Class 3 has one row, class 4 two: a fraction of 0.9 would take them all.
        let labels = [3u8, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5];
        let split = stratified_split_with(&labels, 0.9, in_order);
        assert_eq!(split.kept, vec![0, 2, 12]);
        assert_eq!(
            split.held_out,
            (1..12).filter(|&r| r != 2).collect::<Vec<_>>()
        );
        let empty = stratified_split_with(&[], 0.5, in_order);
        assert_eq!((empty.kept, empty.held_out), (vec![], vec![]));
    }
}
