//! Geometry on float planes: bounding box, crop, padding, stroke width,
//! dilation and separable area resampling.

use super::Plane;

/// The smallest rectangle holding every non-zero value: (x0, y0, x1, y1), exclusive ends.
pub(super) fn bounding_box(plane: &Plane) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (y, row) in plane.values.chunks_exact(plane.width.max(1)).enumerate() {
        let Some(first) = row.iter().position(|&v| v > 0.0) else {
            continue;
        };
        let last = row.iter().rposition(|&v| v > 0.0).unwrap_or(first);
        x0 = x0.min(first);
        x1 = x1.max(last + 1);
        y0 = y0.min(y);
        y1 = y + 1;
    }
    (x0 != usize::MAX).then_some((x0, y0, x1, y1))
}

pub(super) fn crop(plane: &Plane, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> Plane {
    let width = x1 - x0;
    let height = y1 - y0;
    let mut values = Vec::with_capacity(width * height);
    for y in y0..y1 {
        values.extend_from_slice(&plane.values[y * plane.width + x0..y * plane.width + x1]);
    }
    Plane {
        width,
        height,
        values,
    }
}

/// Mean stroke width of the ink in pixels, from area and outline length
/// (for a stroke of width w and length L: 2·area/outline = 2wL/(2L+2w) ≈ w).
pub(super) fn stroke_width(plane: &Plane) -> f32 {
    let inside = |x: usize, y: usize| plane.at(x, y) >= 0.5;
    let (mut area, mut outline) = (0usize, 0usize);
    for y in 0..plane.height {
        for x in 0..plane.width {
            if !inside(x, y) {
                continue;
            }
            area += 1;
            outline += usize::from(x == 0 || !inside(x - 1, y));
            outline += usize::from(x + 1 == plane.width || !inside(x + 1, y));
            outline += usize::from(y == 0 || !inside(x, y - 1));
            outline += usize::from(y + 1 == plane.height || !inside(x, y + 1));
        }
    }
    if outline == 0 {
        0.0
    } else {
        2.0 * area as f32 / outline as f32
    }
}

/// Grey dilation by a (2r+1)x(2r+1) square, done as two 1-D running maxima.
pub(super) fn dilate(plane: &Plane, radius: usize) -> Plane {
    let (width, height) = (plane.width, plane.height);
    let mut running = SlidingMax::default();
    let mut rows = vec![0.0f32; width * height];
    for (row, out) in plane
        .values
        .chunks_exact(width.max(1))
        .zip(rows.chunks_exact_mut(width.max(1)))
    {
        running.run(row, radius, out);
    }
    let mut values = vec![0.0f32; width * height];
    let mut column = vec![0.0f32; height];
    let mut column_max = vec![0.0f32; height];
    for x in 0..width {
        for (y, c) in column.iter_mut().enumerate() {
            *c = rows[y * width + x];
        }
        running.run(&column, radius, &mut column_max);
        for (y, &m) in column_max.iter().enumerate() {
            values[y * width + x] = m;
        }
    }
    Plane {
        width,
        height,
        values,
    }
}

/// Running maxima in O(n) whatever the radius (van Herk and Gil-Werman),
/// with its buffers kept from one row or column to the next.
#[derive(Default)]
struct SlidingMax {
    /// Maxima from the start of each block of 2r+1 values to each value.
    ahead: Vec<f32>,
    /// Maxima from each value to the end of its block.
    behind: Vec<f32>,
}

impl SlidingMax {
    /// `out[i]` = max of `input[i - radius ..= i + radius]` (clipped).
    fn run(&mut self, input: &[f32], radius: usize, out: &mut [f32]) {
        let window = 2 * radius + 1;
        // Padded with -inf so every window is whole: it then runs from some
        // value to the end of its block, then from the next block's start.
        let padded = input.len() + 2 * radius;
        for buffer in [&mut self.ahead, &mut self.behind] {
            buffer.clear();
            buffer.resize(padded, f32::NEG_INFINITY);
            buffer[radius..radius + input.len()].copy_from_slice(input);
        }
        for block in self.ahead.chunks_mut(window) {
            for j in 1..block.len() {
                block[j] = block[j].max(block[j - 1]);
            }
        }
        for block in self.behind.chunks_mut(window) {
            for j in (1..block.len()).rev() {
                block[j - 1] = block[j - 1].max(block[j]);
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.behind[i].max(self.ahead[i + 2 * radius]);
        }
    }
}

/// Adds `pad` zero pixels on every side.
pub(super) fn pad(plane: &Plane, pad: usize) -> Plane {
    let width = plane.width + 2 * pad;
    let height = plane.height + 2 * pad;
    let mut values = vec![0.0f32; width * height];
    for y in 0..plane.height {
        let dst = (y + pad) * width + pad;
        values[dst..dst + plane.width]
            .copy_from_slice(&plane.values[y * plane.width..(y + 1) * plane.width]);
    }
    Plane {
        width,
        height,
        values,
    }
}

/// Per-output-pixel input weights along one axis: exact area averaging when
/// shrinking (what anti-aliased MNIST digits look like), linear interpolation
/// when enlarging.
fn axis_weights(input: usize, output: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = output as f64 / input as f64;
    (0..output)
        .map(|j| {
            let mut weights = Vec::new();
            if scale <= 1.0 {
                let start = j as f64 / scale;
                let end = ((j + 1) as f64 / scale).min(input as f64);
                let mut i = start.floor() as usize;
                while (i as f64) < end && i < input {
                    let overlap = (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0);
                    if overlap > 0.0 {
                        weights.push((i, overlap as f32));
                    }
                    i += 1;
                }
            } else {
                let centre = ((j as f64 + 0.5) / scale - 0.5).clamp(0.0, (input - 1) as f64);
                let left = centre.floor() as usize;
                let frac = (centre - left as f64) as f32;
                weights.push((left, 1.0 - frac));
                if left + 1 < input && frac > 0.0 {
                    weights.push((left + 1, frac));
                }
            }
            let sum: f32 = weights.iter().map(|w| w.1).sum();
            weights.iter_mut().for_each(|w| w.1 /= sum);
            weights
        })
        .collect()
}

/// Separable resampling to `width` x `height`.
pub(super) fn resample(plane: &Plane, width: usize, height: usize) -> Plane {
    let columns = axis_weights(plane.width, width);
    let rows = axis_weights(plane.height, height);
    let mut horizontal = vec![0.0f32; width * plane.height];
    for y in 0..plane.height {
        let row = &plane.values[y * plane.width..(y + 1) * plane.width];
        for (x, weights) in columns.iter().enumerate() {
            horizontal[y * width + x] = weights.iter().map(|&(i, w)| row[i] * w).sum();
        }
    }
    let mut values = vec![0.0f32; width * height];
    for (y, weights) in rows.iter().enumerate() {
        for x in 0..width {
            values[y * width + x] = weights
                .iter()
                .map(|&(i, w)| horizontal[i * width + x] * w)
                .sum();
        }
    }
    Plane {
        width,
        height,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_max_matches_brute_force() {
        let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0];
        // One instance throughout: its buffers are reused across lengths and radii.
        let mut running = SlidingMax::default();
        for len in 1..=values.len() {
            let input = &values[..len];
            for radius in 0..6 {
                let mut out = vec![0.0; len];
                running.run(input, radius, &mut out);
                for (i, &o) in out.iter().enumerate() {
                    let lo = i.saturating_sub(radius);
                    let hi = (i + radius + 1).min(len);
                    assert_eq!(
                        o,
                        input[lo..hi].iter().copied().fold(f32::MIN, f32::max),
                        "length {len}, radius {radius}, {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn area_weights_sum_to_one_and_cover_the_input() {
        for (input, output) in [(100, 20), (28, 20), (20, 20), (7, 20), (1, 5)] {
            let weights = axis_weights(input, output);
            for w in &weights {
                let sum: f32 = w.iter().map(|p| p.1).sum();
                assert!((sum - 1.0).abs() < 1e-5);
            }
            if output <= input {
                let mut coverage = vec![0.0f32; input];
                for w in &weights {
                    for &(i, v) in w {
                        coverage[i] += v * input as f32 / output as f32;
                    }
                }
                assert!(
                    coverage.iter().all(|c| (c - 1.0).abs() < 1e-4),
                    "{input}->{output}: {coverage:?}"
                );
            }
        }
    }
}
