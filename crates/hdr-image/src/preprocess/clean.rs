//! Separating ink from background: Otsu's threshold, a cut below which
//! values are haze or noise, and dropping specks far lighter than the digit.

use super::ink::InkMap;
use super::{Plane, PreprocessError};

/// Weakest ink/background contrast (grey levels out of 255) still taken for ink.
const MIN_CONTRAST: f32 = 32.0;
/// Ink must stand this many background noise deviations above the background.
const MIN_CONTRAST_IN_NOISE: f32 = 6.0;
/// Fewest pixels above the ink threshold that make a digit.
const MIN_INK_PIXELS: usize = 3;
/// Connected specks lighter than this share of all ink are dust or noise.
const MIN_COMPONENT_SHARE: f32 = 0.02;
/// Ink fainter than this share of Otsu's ink/background threshold is haze.
const CUT_OF_THRESHOLD: f32 = 0.25;
/// Ink fainter than this share of the ink's core level is haze.
const CUT_OF_PEAK: f32 = 0.1;

/// Otsu's threshold of values in 0..=255: the split that best separates ink
/// from background.
fn otsu_threshold(values: &[f32]) -> f32 {
    let mut histogram = [0u64; 256];
    for &v in values {
        histogram[v.clamp(0.0, 255.0) as usize] += 1;
    }
    let total = values.len() as f64;
    let sum_all: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut weight_low, mut sum_low) = (0.0f64, 0.0f64);
    // Every split inside an empty gap of the histogram scores the same; take
    // the middle of the best plateau rather than its first level.
    let (mut first_best, mut last_best, mut best_variance) = (0usize, 0usize, -1.0f64);
    for (level, &count) in histogram.iter().enumerate() {
        weight_low += count as f64;
        sum_low += level as f64 * count as f64;
        let weight_high = total - weight_low;
        if weight_low == 0.0 || weight_high == 0.0 {
            continue;
        }
        let mean_low = sum_low / weight_low;
        let mean_high = (sum_all - sum_low) / weight_high;
        let variance = weight_low * weight_high * (mean_low - mean_high).powi(2);
        if variance > best_variance * (1.0 + 1e-9) {
            best_variance = variance;
            first_best = level;
            last_best = level;
        } else if variance >= best_variance * (1.0 - 1e-9) && last_best + 1 == level {
            last_best = level;
        }
    }
    // Values in bins up to the split belong to the low class.
    (first_best + last_best) as f32 / 2.0 + 1.0
}

/// Removes the background: values under a cut derived from the ink contrast
/// and the noise become 0, the ink is stretched so its core is 1, and specks
/// far lighter than the digit are dropped.
pub(super) fn clean(ink: InkMap) -> Result<Plane, PreprocessError> {
    let InkMap { mut plane, noise } = ink;
    let threshold = otsu_threshold(&plane.values);
    let mut strong: Vec<f32> = plane
        .values
        .iter()
        .copied()
        .filter(|&v| v >= threshold)
        .collect();
    if strong.len() < MIN_INK_PIXELS {
        return Err(PreprocessError::NoInk);
    }
    // The ink's core level: robust against a few saturated specks.
    let index = ((strong.len() as f64 * 0.9) as usize).min(strong.len() - 1);
    let (_, peak, _) = strong.select_nth_unstable_by(index, f32::total_cmp);
    let peak = *peak;
    if peak < MIN_CONTRAST || peak < MIN_CONTRAST_IN_NOISE * noise {
        return Err(PreprocessError::NoInk);
    }
    // Drop haze and noise but keep the anti-aliased rim of the strokes at
    // its own grey level, so an MNIST-like input passes through unchanged.
    let cut = (CUT_OF_THRESHOLD * threshold)
        .max(CUT_OF_PEAK * peak)
        .max(3.0 * noise)
        .min(0.5 * peak);
    for v in &mut plane.values {
        *v = if *v < cut { 0.0 } else { (*v / peak).min(1.0) };
    }
    drop_specks(&mut plane);
    if plane.values.iter().filter(|&&v| v > 0.0).count() < MIN_INK_PIXELS {
        return Err(PreprocessError::NoInk);
    }
    Ok(plane)
}

/// Zeroes 8-connected groups of ink pixels that hold less than
/// [`MIN_COMPONENT_SHARE`] of all the ink (dust, paper texture, JPEG noise).
///
/// Works on runs of ink along rows rather than on pixels: a run joins the
/// runs of the row above that it touches, diagonals included, so a drawing
/// with a few runs per row costs one pass over its pixels.
fn drop_specks(plane: &mut Plane) {
    let width = plane.width;
    let mut runs: Vec<Run> = Vec::new();
    // Runs of the previous row: runs[previous.clone()].
    let mut previous = 0..0;
    let mut total = 0.0f64;
    let mut parent: Vec<usize> = Vec::new();
    for (y, row) in plane.values.chunks_exact(width.max(1)).enumerate() {
        let first = runs.len();
        let mut x = 0;
        while x < width {
            if row[x] <= 0.0 {
                x += 1;
                continue;
            }
            let start = x;
            let mut mass = 0.0f64;
            while x < width && row[x] > 0.0 {
                mass += f64::from(row[x]);
                x += 1;
            }
            total += mass;
            let id = runs.len();
            runs.push(Run {
                y,
                start,
                end: x,
                mass,
            });
            parent.push(id);
            // 8-connected: touching or diagonal neighbours in the row above.
            for above in previous.clone() {
                let other = &runs[above];
                if other.start <= x && start <= other.end {
                    union(&mut parent, id, above);
                }
            }
        }
        previous = first..runs.len();
    }
    let mut component_mass = vec![0.0f64; runs.len()];
    for (id, run) in runs.iter().enumerate() {
        component_mass[find(&mut parent, id)] += run.mass;
    }
    let least = f64::from(MIN_COMPONENT_SHARE) * total;
    for (id, run) in runs.iter().enumerate() {
        if component_mass[find(&mut parent, id)] < least {
            plane.values[run.y * width + run.start..run.y * width + run.end].fill(0.0);
        }
    }
}

/// A horizontal run of ink pixels: row `y`, columns `start..end`, and the ink it holds.
struct Run {
    y: usize,
    start: usize,
    end: usize,
    mass: f64,
}

/// The root of `id`'s set, halving the path on the way.
fn find(parent: &mut [usize], mut id: usize) -> usize {
    while parent[id] != id {
        parent[id] = parent[parent[id]];
        id = parent[id];
    }
    id
}

/// Joins the sets of `a` and `b`.
fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel-by-pixel flood fill that [`drop_specks`] must agree with.
    fn drop_specks_by_flood_fill(plane: &mut Plane) {
        let (width, height) = (plane.width, plane.height);
        let total: f64 = plane.values.iter().map(|&v| f64::from(v)).sum();
        let mut seen = vec![false; plane.values.len()];
        for start in 0..plane.values.len() {
            if plane.values[start] <= 0.0 || seen[start] {
                continue;
            }
            seen[start] = true;
            let (mut stack, mut members, mut mass) = (vec![start], Vec::new(), 0.0f64);
            while let Some(i) = stack.pop() {
                members.push(i);
                mass += f64::from(plane.values[i]);
                let (x, y) = (i % width, i / width);
                for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                        let j = ny * width + nx;
                        if plane.values[j] > 0.0 && !seen[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            if mass < f64::from(MIN_COMPONENT_SHARE) * total {
                for &i in &members {
                    plane.values[i] = 0.0;
                }
            }
        }
    }

    /// A deterministic pseudo-random plane: sparse specks and strokes.
    fn plane(width: usize, height: usize, seed: u64, density: u64) -> Plane {
        let mut state = seed;
        let values = (0..width * height)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (state >> 33) % 100;
                if r < density {
                    (r + 1) as f32 / 100.0
                } else {
                    0.0
                }
            })
            .collect();
        Plane {
            width,
            height,
            values,
        }
    }

    #[test]
    fn runs_drop_the_same_specks_as_a_flood_fill() {
        for (width, height) in [(1, 1), (1, 9), (9, 1), (17, 13), (64, 48)] {
            for seed in 0..20 {
                for density in [5, 20, 45, 70] {
                    let mut fast = plane(width, height, seed, density);
                    let mut reference = fast.clone();
                    drop_specks(&mut fast);
                    drop_specks_by_flood_fill(&mut reference);
                    assert_eq!(
                        fast.values, reference.values,
                        "{width} x {height}, seed {seed}, density {density}"
                    );
                }
            }
        }
    }

    #[test]
    fn diagonal_neighbours_join_and_a_gap_separates() {
        // A 3-pixel diagonal (one group, kept) and a lone pixel two columns
        // from it (under 2% of the ink once the long bar is added: dropped).
        let mut p = Plane {
            width: 60,
            height: 4,
            values: vec![0.0; 240],
        };
        for (x, y) in [(0, 0), (1, 1), (2, 2)] {
            p.values[y * 60 + x] = 1.0;
        }
        p.values[60 + 5] = 0.5;
        p.values[180 + 10..180 + 60].fill(1.0);
        drop_specks(&mut p);
        assert_eq!(p.values[0] + p.values[61] + p.values[122], 3.0);
        assert_eq!(p.values[65], 0.0);
        assert!(p.values[180 + 10..].iter().all(|&v| v == 1.0));
    }
}
