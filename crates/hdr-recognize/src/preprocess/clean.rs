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
fn drop_specks(plane: &mut Plane) {
    let (width, height) = (plane.width, plane.height);
    let total: f64 = plane.values.iter().map(|&v| f64::from(v)).sum();
    let mut label = vec![u32::MAX; plane.values.len()];
    let mut stack = Vec::new();
    let mut members = Vec::new();
    for start in 0..plane.values.len() {
        if plane.values[start] <= 0.0 || label[start] != u32::MAX {
            continue;
        }
        label[start] = 0;
        stack.push(start);
        members.clear();
        let mut mass = 0.0f64;
        while let Some(i) = stack.pop() {
            members.push(i);
            mass += f64::from(plane.values[i]);
            let (x, y) = (i % width, i / width);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if plane.values[j] > 0.0 && label[j] == u32::MAX {
                        label[j] = 0;
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
