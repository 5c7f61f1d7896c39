//! Grey level of the ink: the paper's brightness modelled from the image's
//! border, the polarity chosen, and colour ink found where luma cannot see it.

use super::working::WorkingImage;
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
fn border_indices(width: usize, height: usize) -> Vec<usize> {
    let thickness = (width.min(height) / 32).max(1);
    let mut indices = Vec::new();
    for y in 0..height {
        let in_band = y < thickness || y + thickness >= height;
        for x in 0..width {
            if in_band || x < thickness || x + thickness >= width {
                indices.push(y * width + x);
            }
        }
    }
    indices
}

/// The paper's brightness under uneven light: a quadratic surface in x and y
/// fitted to the border pixels, ignoring ink that touches the border.
#[derive(Clone)]
struct PaperModel {
    /// Coefficients of 1, u, v, u², v², uv with u, v in [-1, 1].
    coefficients: [f64; 6],
    width: usize,
    /// u of each column, computed once: the surface is evaluated at every
    /// pixel several times, and the divisions would dominate.
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

    /// Robust standard deviation of `values` around the surface.
    fn spread(&self, luma: &[f32], border: &[usize]) -> f32 {
        let mut deviations: Vec<f32> = border
            .iter()
            .map(|&i| (luma[i] - self.at(i % self.width, i / self.width)).abs())
            .collect();
        1.4826 * median(&mut deviations)
    }

    fn fit(luma: &[f32], width: usize, height: usize, border: &[usize]) -> Self {
        let level = median(&mut border.iter().map(|&i| luma[i]).collect::<Vec<_>>());
        // Each coordinate mapped onto [-1, 1].
        let unit = |i: usize, side: usize| 2.0 * i as f64 / (side.max(2) - 1) as f64 - 1.0;
        let mut model = Self {
            coefficients: [f64::from(level), 0.0, 0.0, 0.0, 0.0, 0.0],
            width,
            us: (0..width).map(|x| unit(x, width)).collect(),
            vs: (0..height).map(|y| unit(y, height)).collect(),
            level,
            noise: 0.0,
        };
        model.noise = model.spread(luma, border);
        if width < 3 || height < 3 {
            return model;
        }
        // Least squares on the pixels near the current surface, twice, so ink
        // touching the border does not bend the paper.
        for _ in 0..2 {
            let tolerance = (3.0 * model.noise).max(8.0);
            let mut normal = [[0.0f64; 6]; 6];
            let mut rhs = [0.0f64; 6];
            for &i in border {
                let (x, y) = (i % width, i / width);
                if (luma[i] - model.at(x, y)).abs() > tolerance {
                    continue;
                }
                let t = model.terms(x, y);
                for ((normal_row, rhs_entry), t_row) in normal.iter_mut().zip(&mut rhs).zip(&t) {
                    *rhs_entry += t_row * f64::from(luma[i]);
                    for (entry, t_col) in normal_row.iter_mut().zip(&t) {
                        *entry += t_row * t_col;
                    }
                }
            }
            let Some(coefficients) = solve6(normal, rhs) else {
                break;
            };
            let candidate = Self {
                coefficients,
                ..model.clone()
            };
            let noise = candidate.spread(luma, border);
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
    let WorkingImage { width, height, rgb } = image;
    let (width, height) = (*width, *height);
    let luma: Vec<f32> = rgb
        .iter()
        .map(|c| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])
        .collect();

    let border = border_indices(width, height);
    let paper = PaperModel::fit(&luma, width, height, &border);
    let residual: Vec<f32> = luma
        .iter()
        .enumerate()
        .map(|(i, &l)| l - paper.at(i % width, i / width))
        .collect();
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
    let luma_contrast: Vec<f32> = residual.iter().map(|&r| (sign * r).max(0.0)).collect();

    // Each colour channel gets its own paper surface, so uneven light is not
    // mistaken for coloured ink.
    let channel_papers: Vec<PaperModel> = (0..3)
        .map(|k| {
            let channel: Vec<f32> = rgb.iter().map(|c| c[k]).collect();
            PaperModel::fit(&channel, width, height, &border)
        })
        .collect();
    let colour_contrast: Vec<f32> = rgb
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (x, y) = (i % width, i / width);
            (0..3)
                .map(|k| (c[k] - channel_papers[k].at(x, y)).abs())
                .fold(0.0, f32::max)
        })
        .collect();
    let strength = |map: &[f32]| {
        map.iter()
            .map(|&v| f64::from((v - margin).max(0.0)))
            .sum::<f64>()
    };
    let values = if strength(&luma_contrast) >= 0.4 * strength(&colour_contrast) {
        luma_contrast
    } else {
        colour_contrast
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
