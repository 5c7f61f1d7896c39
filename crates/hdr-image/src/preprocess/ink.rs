//! Grey level of the ink: the paper's brightness modelled from the image's
//! border, the polarity chosen, and colour ink found where luma cannot see it.

use super::working::{Pixels, WorkingImage};
use super::Plane;

/// How much each pixel differs from the paper in the ink's direction, 0..=255,
/// with the background near 0.
pub(super) struct InkMap {
    pub(super) plane: Plane,
    /// Background noise (robust standard deviation of the border's luma).
    pub(super) noise: f32,
}

fn median(values: &mut [f32]) -> f32 {
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}

/// Pixels in a frame along the image's edges, which photos and scans show as
/// paper; the frame is thicker on large images so a dark scanner edge or a
/// stray line along one side does not decide the background.
fn border_pixels(width: usize, height: usize) -> Vec<BorderPixel> {
    let thickness = (width.min(height) / 32).max(1);
    let mut pixels = Vec::new();
    let mut push = |x: usize, y: usize| {
        pixels.push(BorderPixel {
            index: (y * width + x) as u32,
            x: x as u32,
            y: y as u32,
        })
    };
    for y in 0..height {
        if y < thickness || y + thickness >= height {
            (0..width).for_each(|x| push(x, y));
        } else {
            let right = width.saturating_sub(thickness).max(thickness);
            (0..thickness.min(width)).for_each(|x| push(x, y));
            (right..width).for_each(|x| push(x, y));
        }
    }
    pixels
}

/// One pixel of the border frame: its index in the image and its position
/// (32 bits each: images are far smaller than 4 billion pixels).
#[derive(Clone, Copy)]
struct BorderPixel {
    index: u32,
    x: u32,
    y: u32,
}

impl BorderPixel {
    fn index(self) -> usize {
        self.index as usize
    }
}

/// The paper's brightness under uneven light: a quadratic surface in x and y
/// fitted to the border pixels, ignoring ink that touches the border.
#[derive(Clone)]
struct PaperModel {
    /// Coefficients of 1, u, v, u², v², uv with u, v in [-1, 1].
    coefficients: [f64; 6],
    /// u of each column, computed once: the surface is evaluated at every
    /// pixel, and the divisions would dominate.
    us: Vec<f64>,
    /// v of each row.
    vs: Vec<f64>,
    /// The paper's median brightness.
    level: f32,
    /// Robust standard deviation of the border around the surface.
    noise: f32,
}

impl PaperModel {
    fn terms(&self, x: usize, y: usize) -> [f64; 6] {
        let (u, v) = (self.us[x], self.vs[y]);
        [1.0, u, v, u * u, v * v, u * v]
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        let t = self.terms(x, y);
        t.iter()
            .zip(&self.coefficients)
            .map(|(a, b)| a * b)
            .sum::<f64>() as f32
    }

    /// `values` minus the surface, pixel by pixel. Along a row the surface is
    /// a quadratic in u alone, so each pixel costs two multiply-adds (in f64,
    /// as [`at`](Self::at): grey levels are whole numbers, and a residual a
    /// hair below one would fall into the histogram bin below).
    fn residuals(&self, values: &[f32]) -> Vec<f32> {
        let [c0, c1, c2, c3, c4, c5] = self.coefficients;
        let width = self.us.len();
        let mut out = Vec::with_capacity(values.len());
        for (row, &v) in values.chunks_exact(width).zip(&self.vs) {
            let constant = c0 + c2 * v + c4 * v * v;
            let linear = c1 + c5 * v;
            out.extend(
                row.iter()
                    .zip(&self.us)
                    .map(|(&value, &u)| value - (constant + u * (linear + c3 * u)) as f32),
            );
        }
        out
    }

    /// Robust standard deviation of `values` around the surface.
    fn spread(&self, values: &[f32], border: &[BorderPixel]) -> f32 {
        let mut deviations: Vec<f32> = border
            .iter()
            .map(|p| (values[p.index()] - self.at(p.x as usize, p.y as usize)).abs())
            .collect();
        1.4826 * median(&mut deviations)
    }

    fn fit(values: &[f32], width: usize, height: usize, border: &[BorderPixel]) -> Self {
        let level = median(&mut border.iter().map(|p| values[p.index()]).collect::<Vec<_>>());
        // Each coordinate mapped onto [-1, 1].
        let unit = |i: usize, side: usize| 2.0 * i as f64 / (side.max(2) - 1) as f64 - 1.0;
        let mut model = Self {
            coefficients: [f64::from(level), 0.0, 0.0, 0.0, 0.0, 0.0],
            us: (0..width).map(|x| unit(x, width)).collect(),
            vs: (0..height).map(|y| unit(y, height)).collect(),
            level,
            noise: 0.0,
        };
        model.noise = model.spread(values, border);
        if width < 3 || height < 3 {
            return model;
        }
        // Least squares on the pixels near the current surface, twice, so ink
        // touching the border does not bend the paper.
        for _ in 0..2 {
            let tolerance = (3.0 * model.noise).max(8.0);
            let mut normal = [[0.0f64; 6]; 6];
            let mut rhs = [0.0f64; 6];
            for p in border {
                let value = values[p.index()];
                let t = model.terms(p.x as usize, p.y as usize);
                let surface: f64 = t.iter().zip(&model.coefficients).map(|(a, b)| a * b).sum();
                if (value - surface as f32).abs() > tolerance {
                    continue;
                }
                // The upper triangle only: the matrix is symmetric.
                for row in 0..6 {
                    rhs[row] += t[row] * f64::from(value);
                    for col in row..6 {
                        normal[row][col] += t[row] * t[col];
                    }
                }
            }
            let upper = normal;
            for (row, entries) in normal.iter_mut().enumerate() {
                for (col, entry) in entries.iter_mut().enumerate().take(row) {
                    *entry = upper[col][row];
                }
            }
            let Some(coefficients) = solve6(normal, rhs) else {
                break;
            };
            let candidate = Self {
                coefficients,
                ..model.clone()
            };
            let noise = candidate.spread(values, border);
            if noise > model.noise {
                break;
            }
            model = Self { noise, ..candidate };
        }
        model
    }
}

/// Solves a 6x6 linear system by Gaussian elimination with partial pivoting;
/// `None` when it is (nearly) singular.
fn solve6(mut a: [[f64; 6]; 6], mut b: [f64; 6]) -> Option<[f64; 6]> {
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for col in 0..6 {
        let pivot = (col..6).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() <= 1e-9 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..6 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (target, source) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *target -= f * source;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0f64; 6];
    for row in (0..6).rev() {
        let tail: f64 = (row + 1..6).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

/// Grey level of the ink: luma with the polarity chosen so ink is bright; for
/// colour ink whose luma barely differs from the paper's, the colour distance.
pub(super) fn ink_map(image: &WorkingImage) -> InkMap {
    let (width, height) = (image.width, image.height);
    let rgb_luma: Vec<f32>;
    let luma: &[f32] = match &image.pixels {
        Pixels::Grey(levels) => levels,
        Pixels::Rgb(rgb) => {
            rgb_luma = rgb
                .iter()
                .map(|c| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])
                .collect();
            &rgb_luma
        }
    };

    let border = border_pixels(width, height);
    let paper = PaperModel::fit(luma, width, height, &border);
    let mut residual = paper.residuals(luma);
    let noise = paper.noise;

    // Ink is the minority that departs strongly from the paper; compare how
    // much departs each way, beyond the noise, and fall back to "light paper
    // means dark ink" when neither side clearly wins.
    let margin = (3.0 * noise).max(10.0);
    let (mut darker, mut lighter) = (0.0f64, 0.0f64);
    for &r in &residual {
        darker += f64::from((-r - margin).max(0.0));
        lighter += f64::from((r - margin).max(0.0));
    }
    let dark_ink = if darker > 2.0 * lighter {
        true
    } else if lighter > 2.0 * darker {
        false
    } else {
        paper.level >= 127.5
    };
    let sign = if dark_ink { -1.0 } else { 1.0 };
    // How strongly a contrast map stands out beyond the noise; for the luma
    // contrast below that is the sum of the ink's side above.
    let luma_strength = if dark_ink { darker } else { lighter };
    let strength = |map: &[f32]| {
        map.iter()
            .map(|&v| f64::from((v - margin).max(0.0)))
            .sum::<f64>()
    };

    // The colour distance from the paper: each colour channel gets its own
    // paper surface, so uneven light is not mistaken for coloured ink. In a
    // grey image every channel is the luma, so the distance is the residual's
    // size, whose strength is both sides' together.
    let colour_contrast: Option<Vec<f32>> = match &image.pixels {
        Pixels::Grey(_) => None,
        Pixels::Rgb(rgb) => {
            let mut distance = vec![0.0f32; rgb.len()];
            for k in 0..3 {
                let channel: Vec<f32> = rgb.iter().map(|c| c[k]).collect();
                let channel_paper = PaperModel::fit(&channel, width, height, &border);
                for (d, r) in distance.iter_mut().zip(channel_paper.residuals(&channel)) {
                    *d = d.max(r.abs());
                }
            }
            Some(distance)
        }
    };
    let colour_strength = colour_contrast
        .as_deref()
        .map_or(darker + lighter, strength);
    let values = if luma_strength >= 0.4 * colour_strength {
        residual.iter_mut().for_each(|r| *r = (sign * *r).max(0.0));
        residual
    } else if let Some(colour) = colour_contrast {
        colour
    } else {
        residual.iter_mut().for_each(|r| *r = r.abs());
        residual
    };
    InkMap {
        plane: Plane {
            width,
            height,
            values,
        },
        noise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_border_frame_is_every_pixel_near_an_edge_once() {
        for (width, height) in [(1, 1), (2, 5), (5, 2), (40, 40), (100, 64), (280, 280)] {
            let thickness = (width.min(height) / 32).max(1);
            let expected: Vec<usize> = (0..width * height)
                .filter(|i| {
                    let (x, y) = (i % width, i / width);
                    x < thickness
                        || y < thickness
                        || x + thickness >= width
                        || y + thickness >= height
                })
                .collect();
            let frame = border_pixels(width, height);
            let got: Vec<usize> = frame.iter().map(|p| p.index()).collect();
            assert_eq!(got, expected, "{width} x {height}");
            assert!(frame
                .iter()
                .all(|p| p.index() == p.y as usize * width + p.x as usize));
        }
    }
}
