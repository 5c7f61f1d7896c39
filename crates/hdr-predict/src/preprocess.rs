//! Turns a photo or scan of one handwritten digit into a 28x28 image the way
//! MNIST was made: bright ink on black, cropped to the ink, the longer side
//! scaled to 20 px with anti-aliasing, and the centre of mass put at (14, 14).

use image::DynamicImage;

/// Side of the canvas the model sees.
pub const CANVAS_SIDE: usize = 28;
/// Pixels of the canvas the model sees.
pub const CANVAS_PIXELS: usize = CANVAS_SIDE * CANVAS_SIDE;
/// The longer side of the ink's bounding box after scaling, as in MNIST.
pub const BOX_SIDE: usize = 20;
/// Where the ink's centre of mass lands (column and row index), as in MNIST.
pub const CENTRE: f64 = 14.0;

/// Larger images are block-averaged down to this longer side first.
const MAX_WORKING_SIDE: usize = 1024;
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
/// Stroke widths (in pixels of the 20 px box) below this count as too thin:
/// MNIST's median stroke is about 2 px wide, its 5th percentile about 1.3 px.
const MIN_STROKE_WIDTH: f32 = 1.3;
/// Thin strokes are thickened to this width (pixels of the 20 px box).
const TARGET_STROKE_WIDTH: f32 = 2.0;

/// Why an image cannot be turned into a digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PreprocessError {
    /// Nothing stands out from the background: a blank image or only noise.
    #[error("no ink found: the image is blank or holds only background noise")]
    NoInk,
}

/// Converts an image of one digit into the 28x28 grey image the model expects
/// (row-major, 0 = background, 255 = ink core).
///
/// Works for dark ink on light paper and light ink on dark, grey or colour,
/// any size; transparent pixels count as white paper.
pub fn preprocess(img: &DynamicImage) -> Result<[u8; CANVAS_PIXELS], PreprocessError> {
    let ink = ink_map(img)?;
    let cleaned = clean(ink)?;
    let digit = normalise_size(&cleaned)?;
    Ok(centre_by_mass(&digit))
}

/// A single-channel float image.
#[derive(Debug, Clone)]
struct Plane {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl Plane {
    fn at(&self, x: usize, y: usize) -> f32 {
        self.values[y * self.width + x]
    }
}

/// How much each pixel differs from the paper in the ink's direction, 0..=255,
/// with the background near 0.
struct InkMap {
    plane: Plane,
    /// Background noise (robust standard deviation of the border's luma).
    noise: f32,
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
struct PaperModel {
    /// Coefficients of 1, u, v, u², v², uv with u, v in [-1, 1].
    coefficients: [f64; 6],
    width: usize,
    height: usize,
    /// The paper's median brightness.
    level: f32,
    /// Robust standard deviation of the border around the surface.
    noise: f32,
}

impl PaperModel {
    fn terms(&self, x: usize, y: usize) -> [f64; 6] {
        let u = 2.0 * x as f64 / (self.width.max(2) - 1) as f64 - 1.0;
        let v = 2.0 * y as f64 / (self.height.max(2) - 1) as f64 - 1.0;
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
        let mut model = Self {
            coefficients: [f64::from(level), 0.0, 0.0, 0.0, 0.0, 0.0],
            width,
            height,
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
                ..model
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

/// Averages `factor` x `factor` blocks so the longer side is at most
/// [`MAX_WORKING_SIDE`]; smaller images are returned as they are.
fn shrink_large(rgb: Vec<[f32; 3]>, width: usize, height: usize) -> (Vec<[f32; 3]>, usize, usize) {
    let factor = width.max(height).div_ceil(MAX_WORKING_SIDE);
    if factor <= 1 {
        return (rgb, width, height);
    }
    let (small_width, small_height) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut sums = vec![[0.0f32; 3]; small_width * small_height];
    let mut counts = vec![0u32; small_width * small_height];
    for (i, c) in rgb.iter().enumerate() {
        let j = (i / width / factor) * small_width + (i % width) / factor;
        for k in 0..3 {
            sums[j][k] += c[k];
        }
        counts[j] += 1;
    }
    let small = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| s.map(|v| v / n as f32))
        .collect();
    (small, small_width, small_height)
}

/// Grey level of the ink: luma with the polarity chosen so ink is bright; for
/// colour ink whose luma barely differs from the paper's, the colour distance.
fn ink_map(img: &DynamicImage) -> Result<InkMap, PreprocessError> {
    let width = img.width() as usize;
    let height = img.height() as usize;
    if width == 0 || height == 0 {
        return Err(PreprocessError::NoInk);
    }
    let rgba = img.to_rgba8();
    // Composite over white paper: drawings saved with a transparent background.
    let rgb: Vec<[f32; 3]> = rgba
        .pixels()
        .map(|p| {
            let alpha = f32::from(p[3]) / 255.0;
            let over_white = |c: u8| f32::from(c) * alpha + 255.0 * (1.0 - alpha);
            [over_white(p[0]), over_white(p[1]), over_white(p[2])]
        })
        .collect();
    // A 12-megapixel photo holds far more detail than a 20 px digit needs.
    let (rgb, width, height) = shrink_large(rgb, width, height);
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
    Ok(InkMap {
        plane: Plane {
            width,
            height,
            values,
        },
        noise,
    })
}

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
fn clean(ink: InkMap) -> Result<Plane, PreprocessError> {
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

/// The smallest rectangle holding every non-zero value: (x0, y0, x1, y1), exclusive ends.
fn bounding_box(plane: &Plane) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..plane.height {
        for x in 0..plane.width {
            if plane.at(x, y) > 0.0 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x0 != usize::MAX).then_some((x0, y0, x1, y1))
}

fn crop(plane: &Plane, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> Plane {
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
fn stroke_width(plane: &Plane) -> f32 {
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
fn dilate(plane: &Plane, radius: usize) -> Plane {
    let (width, height) = (plane.width, plane.height);
    let mut rows = vec![0.0f32; width * height];
    for y in 0..height {
        sliding_max(
            &plane.values[y * width..(y + 1) * width],
            radius,
            &mut rows[y * width..(y + 1) * width],
        );
    }
    let mut values = vec![0.0f32; width * height];
    let mut column = vec![0.0f32; height];
    let mut column_max = vec![0.0f32; height];
    for x in 0..width {
        for (y, c) in column.iter_mut().enumerate() {
            *c = rows[y * width + x];
        }
        sliding_max(&column, radius, &mut column_max);
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

/// `out[i]` = max of `input[i - radius ..= i + radius]` (clipped), in O(n)
/// with a monotonic queue of candidate indices.
fn sliding_max(input: &[f32], radius: usize, out: &mut [f32]) {
    let mut queue = std::collections::VecDeque::new();
    let n = input.len();
    for end in 0..n + radius {
        if end < n {
            while queue
                .back()
                .is_some_and(|&j: &usize| input[j] <= input[end])
            {
                queue.pop_back();
            }
            queue.push_back(end);
        }
        if end >= radius {
            let centre = end - radius;
            while queue.front().is_some_and(|&j| j + radius < centre) {
                queue.pop_front();
            }
            out[centre] = input[*queue.front().expect("the window holds its centre")];
        }
    }
}

/// Adds `pad` zero pixels on every side.
fn pad(plane: &Plane, pad: usize) -> Plane {
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
fn resample(plane: &Plane, width: usize, height: usize) -> Plane {
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

/// Crops to the ink and scales its longer side to [`BOX_SIDE`], thickening
/// strokes that would come out much thinner than MNIST's (a ballpoint pen on
/// a large photo).
fn normalise_size(plane: &Plane) -> Result<Plane, PreprocessError> {
    let bbox = bounding_box(plane).ok_or(PreprocessError::NoInk)?;
    let mut digit = crop(plane, bbox);
    let scale = BOX_SIDE as f32 / digit.width.max(digit.height) as f32;
    let width_in_box = stroke_width(&digit) * scale;
    if scale < 0.5 && width_in_box > 0.0 && width_in_box < MIN_STROKE_WIDTH {
        let radius = ((TARGET_STROKE_WIDTH / scale - stroke_width(&digit)) / 2.0)
            .round()
            .max(1.0) as usize;
        let thick = dilate(&pad(&digit, radius), radius);
        let bbox = bounding_box(&thick).ok_or(PreprocessError::NoInk)?;
        digit = crop(&thick, bbox);
    }
    let longer = digit.width.max(digit.height) as f64;
    let fit = |side: usize| {
        ((side as f64 * BOX_SIDE as f64 / longer).round() as usize).clamp(1, BOX_SIDE)
    };
    Ok(resample(&digit, fit(digit.width), fit(digit.height)))
}

/// Pastes the digit into the 28x28 canvas with its centre of mass at
/// ([`CENTRE`], [`CENTRE`]) (whole-pixel shift, kept inside the canvas).
fn centre_by_mass(digit: &Plane) -> [u8; CANVAS_PIXELS] {
    let (mut mass, mut sum_x, mut sum_y) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..digit.height {
        for x in 0..digit.width {
            let v = f64::from(digit.at(x, y));
            mass += v;
            sum_x += v * x as f64;
            sum_y += v * y as f64;
        }
    }
    let offset = |sum: f64, side: usize| -> usize {
        let wanted = if mass > 0.0 {
            (CENTRE - sum / mass).round()
        } else {
            0.0
        };
        wanted.clamp(0.0, (CANVAS_SIDE - side) as f64) as usize
    };
    let (ox, oy) = (offset(sum_x, digit.width), offset(sum_y, digit.height));
    let mut canvas = [0u8; CANVAS_PIXELS];
    for y in 0..digit.height {
        for x in 0..digit.width {
            canvas[(y + oy) * CANVAS_SIDE + x + ox] =
                (digit.at(x, y) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    /// Centre of mass (column, row) and bounding box (width, height) of a canvas.
    fn moments(canvas: &[u8; CANVAS_PIXELS]) -> (f64, f64, usize, usize) {
        let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..CANVAS_SIDE {
            for x in 0..CANVAS_SIDE {
                let v = f64::from(canvas[y * CANVAS_SIDE + x]);
                if v > 0.0 {
                    m += v;
                    sx += v * x as f64;
                    sy += v * y as f64;
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x + 1);
                    y1 = y1.max(y + 1);
                }
            }
        }
        (sx / m, sy / m, x1 - x0, y1 - y0)
    }

    /// Dark "L"-shaped stroke on white paper, `width` x `height`.
    fn stroke_on_paper(width: u32, height: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            let vertical = (40..52).contains(&x) && (30..130).contains(&y);
            let foot = (40..90).contains(&x) && (118..130).contains(&y);
            Luma([if vertical || foot { 20 } else { 235 }])
        })
    }

    #[test]
    fn all_white_image_has_no_ink() {
        let white = DynamicImage::ImageLuma8(GrayImage::from_pixel(64, 48, Luma([255])));
        assert_eq!(preprocess(&white), Err(PreprocessError::NoInk));
        let black = DynamicImage::ImageLuma8(GrayImage::from_pixel(28, 28, Luma([0])));
        assert_eq!(preprocess(&black), Err(PreprocessError::NoInk));
        let empty = DynamicImage::ImageLuma8(GrayImage::new(0, 0));
        assert_eq!(preprocess(&empty), Err(PreprocessError::NoInk));
    }

    #[test]
    fn background_noise_alone_is_not_ink() {
        // Deterministic pseudo-random grain of ±12 grey levels around 200.
        let mut state = 0x2545_f491_u32;
        let noisy = GrayImage::from_fn(120, 90, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            Luma([188 + (state % 25) as u8])
        });
        assert_eq!(
            preprocess(&DynamicImage::ImageLuma8(noisy)),
            Err(PreprocessError::NoInk)
        );
    }

    #[test]
    fn centred_stroke_has_mass_at_centre_and_box_of_twenty() {
        let canvas = preprocess(&DynamicImage::ImageLuma8(stroke_on_paper(160, 160))).unwrap();
        let (cx, cy, w, h) = moments(&canvas);
        assert!(
            (cx - CENTRE).abs() <= 1.0 && (cy - CENTRE).abs() <= 1.0,
            "centre of mass ({cx}, {cy})"
        );
        assert_eq!(w.max(h), BOX_SIDE, "bounding box {w}x{h}");
        // Aspect kept: the stroke is 50 wide and 100 tall.
        assert!((9..=11).contains(&w), "width {w}");
        assert!(canvas.contains(&255), "the ink core is full white");
    }

    #[test]
    fn off_centre_digit_is_recentred() {
        let mut big = GrayImage::from_pixel(400, 300, Luma([240]));
        image::imageops::overlay(&mut big, &stroke_on_paper(160, 160), 230, 120);
        let moved = preprocess(&DynamicImage::ImageLuma8(big)).unwrap();
        let centred = preprocess(&DynamicImage::ImageLuma8(stroke_on_paper(160, 160))).unwrap();
        assert_eq!(moved, centred);
    }

    #[test]
    fn polarity_is_detected_both_ways() {
        let dark_on_light = stroke_on_paper(160, 160);
        let mut light_on_dark = dark_on_light.clone();
        image::imageops::invert(&mut light_on_dark);
        let a = preprocess(&DynamicImage::ImageLuma8(dark_on_light)).unwrap();
        let b = preprocess(&DynamicImage::ImageLuma8(light_on_dark)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn dark_ink_on_dark_grey_paper_is_found_by_its_direction() {
        let paper = GrayImage::from_fn(160, 160, |x, y| {
            let p = stroke_on_paper(160, 160).get_pixel(x, y)[0];
            Luma([if p < 128 { 5 } else { 90 }])
        });
        let a = preprocess(&DynamicImage::ImageLuma8(paper)).unwrap();
        let b = preprocess(&DynamicImage::ImageLuma8(stroke_on_paper(160, 160))).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn colour_ink_of_the_papers_brightness_is_found_by_colour() {
        let grey = stroke_on_paper(160, 160);
        // Red ink on green paper of almost the same luma.
        let colour = RgbImage::from_fn(160, 160, |x, y| {
            if grey.get_pixel(x, y)[0] < 128 {
                Rgb([200, 60, 60])
            } else {
                Rgb([60, 140, 60])
            }
        });
        let a = preprocess(&DynamicImage::ImageRgb8(colour)).unwrap();
        let b = preprocess(&DynamicImage::ImageLuma8(grey)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn transparent_background_counts_as_paper() {
        let grey = stroke_on_paper(160, 160);
        let drawing = image::RgbaImage::from_fn(160, 160, |x, y| {
            let ink = grey.get_pixel(x, y)[0] < 128;
            image::Rgba([0, 0, 0, if ink { 255 } else { 0 }])
        });
        assert!(preprocess(&DynamicImage::ImageRgba8(drawing)).is_ok());
    }

    #[test]
    fn distant_speck_does_not_stretch_the_box() {
        let mut paper = stroke_on_paper(300, 300);
        for y in 280..283 {
            for x in 280..283 {
                paper.put_pixel(x, y, Luma([20]));
            }
        }
        let with_speck = preprocess(&DynamicImage::ImageLuma8(paper)).unwrap();
        let clean = preprocess(&DynamicImage::ImageLuma8(stroke_on_paper(300, 300))).unwrap();
        assert_eq!(with_speck, clean);
    }

    #[test]
    fn thin_pen_stroke_on_a_large_photo_is_thickened() {
        // A 2 px line in a 600 px tall digit would shrink to a 0.07 px wisp.
        let thin = GrayImage::from_fn(400, 700, |x, y| {
            let line = (199..201).contains(&x) && (50..650).contains(&y);
            let bar = (100..300).contains(&x) && (349..351).contains(&y);
            Luma([if line || bar { 30 } else { 230 }])
        });
        let canvas = preprocess(&DynamicImage::ImageLuma8(thin)).unwrap();
        let bright = canvas.iter().filter(|&&v| v >= 128).count();
        // A 2 px wide stroke 20 px long plus a 2 px bar about 7 px long.
        assert!(bright >= 40, "only {bright} bright pixels");
        let (_, _, _, h) = moments(&canvas);
        assert_eq!(h, BOX_SIDE);
    }

    #[test]
    fn mnist_like_input_passes_through_unchanged() {
        // A 20-tall anti-aliased bar centred like MNIST is already normalised.
        // Heavier at the bottom right so its centre of mass (13.6, 13.6)
        // rounds to (14, 14).
        let mut canvas = [0u8; CANVAS_PIXELS];
        for y in 4..24 {
            let rim = if y >= 14 { 120 } else { 90 };
            for (x, v) in [(12, 90), (13, 255), (14, 255), (15, rim)] {
                canvas[y * CANVAS_SIDE + x] = v;
            }
        }
        let img = GrayImage::from_raw(28, 28, canvas.to_vec()).unwrap();
        let out = preprocess(&DynamicImage::ImageLuma8(img)).unwrap();
        assert_eq!(out, canvas);
    }

    #[test]
    fn sliding_max_matches_brute_force() {
        let input = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0];
        for radius in 0..5 {
            let mut out = [0.0; 11];
            sliding_max(&input, radius, &mut out);
            for (i, &o) in out.iter().enumerate() {
                let lo = i.saturating_sub(radius);
                let hi = (i + radius + 1).min(input.len());
                assert_eq!(
                    o,
                    input[lo..hi].iter().copied().fold(f32::MIN, f32::max),
                    "radius {radius}, {i}"
                );
            }
        }
    }

    #[test]
    fn huge_photo_is_shrunk_before_the_work() {
        // 3000x2200 with a ring 10 px wide: thin for a 1200 px digit.
        let photo = GrayImage::from_fn(3000, 2200, |x, y| {
            let (dx, dy) = (x as f32 - 1500.0, y as f32 - 1100.0);
            let ring = ((dx * dx + dy * dy).sqrt() - 600.0).abs() < 5.0;
            Luma([if ring { 40 } else { 200 + (x / 100) as u8 }])
        });
        let canvas = preprocess(&DynamicImage::ImageLuma8(photo)).unwrap();
        let (cx, cy, w, h) = moments(&canvas);
        assert_eq!((w, h), (BOX_SIDE, BOX_SIDE));
        assert!((cx - CENTRE).abs() <= 1.0 && (cy - CENTRE).abs() <= 1.0);
        // The ring's centre stays empty and its stroke is visible.
        assert_eq!(canvas[14 * CANVAS_SIDE + 14], 0);
        assert!(canvas.iter().filter(|&&v| v >= 128).count() >= 60);
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
