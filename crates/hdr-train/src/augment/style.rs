//! How an image was made rather than how the digit was written: the pen's
//! width, the scan's resolution, a black-and-white scan. Each works in place
//! on one 28x28 image of values in [0, 1] (ink bright on a dark ground).

use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE};

/// A thicker (`amount > 0`) or thinner (`amount < 0`) pen: each pixel moves
/// `|amount|` (at most 1) of the way towards the brightest (thicker) or the
/// darkest (thinner) of itself and its four neighbours, a grey-level dilation
/// or erosion by one pixel at full strength.
pub fn stroke(image: &mut [f32], amount: f32) {
    assert_eq!(image.len(), IMAGE_PIXELS, "one 28x28 image");
    let source: [f32; IMAGE_PIXELS] = image.try_into().expect("784 values");
    let at = |x: isize, y: isize| {
        if x < 0 || y < 0 || x >= IMAGE_SIDE as isize || y >= IMAGE_SIDE as isize {
            0.0
        } else {
            source[y as usize * IMAGE_SIDE + x as usize]
        }
    };
    let t = amount.abs().min(1.0);
    for y in 0..IMAGE_SIDE as isize {
        for x in 0..IMAGE_SIDE as isize {
            let cross = [
                at(x, y),
                at(x - 1, y),
                at(x + 1, y),
                at(x, y - 1),
                at(x, y + 1),
            ];
            let v = cross[0];
            let towards = if amount > 0.0 {
                cross.into_iter().fold(v, f32::max)
            } else {
                cross.into_iter().fold(v, f32::min)
            };
            image[y as usize * IMAGE_SIDE + x as usize] = v + t * (towards - v);
        }
    }
}

/// A low-resolution scan: the image averaged down to `side` x `side` pixels
/// (each the mean of the area it covers) and interpolated back up to 28x28
/// bilinearly. `side` is clamped to 2..=28; 28 changes nothing.
pub fn low_resolution(image: &mut [f32], side: usize) {
    assert_eq!(image.len(), IMAGE_PIXELS, "one 28x28 image");
    let side = side.clamp(2, IMAGE_SIDE);
    if side == IMAGE_SIDE {
        return;
    }
    // Area weights: how much of source pixel j falls in low-resolution pixel i.
    let ratio = IMAGE_SIDE as f32 / side as f32;
    let mut weights = vec![0.0f32; side * IMAGE_SIDE];
    for i in 0..side {
        let (lo, hi) = (i as f32 * ratio, (i + 1) as f32 * ratio);
        for j in 0..IMAGE_SIDE {
            let overlap = (hi.min((j + 1) as f32) - lo.max(j as f32)).max(0.0);
            weights[i * IMAGE_SIDE + j] = overlap / ratio;
        }
    }
    let mut rows = vec![0.0f32; side * IMAGE_SIDE]; // [side][28]: columns reduced
    for y in 0..IMAGE_SIDE {
        for i in 0..side {
            rows[i * IMAGE_SIDE + y] = (0..IMAGE_SIDE)
                .map(|x| weights[i * IMAGE_SIDE + x] * image[y * IMAGE_SIDE + x])
                .sum();
        }
    }
    let mut small = vec![0.0f32; side * side];
    for i in 0..side {
        for k in 0..side {
            small[k * side + i] = (0..IMAGE_SIDE)
                .map(|y| weights[k * IMAGE_SIDE + y] * rows[i * IMAGE_SIDE + y])
                .sum();
        }
    }
    // Back up: the centre of output pixel x sits at (x + 0.5) / ratio - 0.5
    // in low-resolution pixels; edges repeat the border.
    let position = |x: usize| {
        let p = ((x as f32 + 0.5) / ratio - 0.5).clamp(0.0, (side - 1) as f32);
        let p0 = (p as usize).min(side - 2);
        (p0, p - p0 as f32)
    };
    for y in 0..IMAGE_SIDE {
        let (y0, fy) = position(y);
        for x in 0..IMAGE_SIDE {
            let (x0, fx) = position(x);
            let s = |i: usize, k: usize| small[k * side + i];
            let top = s(x0, y0) + fx * (s(x0 + 1, y0) - s(x0, y0));
            let bottom = s(x0, y0 + 1) + fx * (s(x0 + 1, y0 + 1) - s(x0, y0 + 1));
            image[y * IMAGE_SIDE + x] = top + fy * (bottom - top);
        }
    }
}

/// A black-and-white scan: values above `threshold` become 1, the rest 0.
pub fn binarise(image: &mut [f32], threshold: f32) {
    for v in image {
        *v = if *v > threshold { 1.0 } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical bar two pixels wide (x 13 and 14), rows 6..22.
    fn bar() -> Vec<f32> {
        let mut image = vec![0.0; IMAGE_PIXELS];
        for y in 6..22 {
            image[y * IMAGE_SIDE + 13] = 1.0;
            image[y * IMAGE_SIDE + 14] = 1.0;
        }
        image
    }

    fn ink(image: &[f32]) -> f32 {
        image.iter().sum()
    }

    #[test]
    fn thicker_and_thinner_pens_add_and_remove_ink() {
        let original = bar();
        let mut thick = original.clone();
        stroke(&mut thick, 1.0);
        // One pixel more on each side of the bar, and one row at each end.
        assert_eq!(ink(&thick), 4.0 * 16.0 + 2.0 * 2.0);
        assert_eq!(thick[10 * IMAGE_SIDE + 12], 1.0);
        assert_eq!(thick[10 * IMAGE_SIDE + 11], 0.0);
        let mut half = original.clone();
        stroke(&mut half, 0.5);
        assert_eq!(half[10 * IMAGE_SIDE + 12], 0.5);
        let mut thin = original.clone();
        stroke(&mut thin, -1.0);
        // A two-pixel bar has no pixel whose four neighbours are all ink.
        assert_eq!(ink(&thin), 0.0);
        let mut none = original.clone();
        stroke(&mut none, 0.0);
        assert_eq!(none, original);
    }

    #[test]
    fn low_resolution_keeps_the_ink_and_blurs_it() {
        let original = bar();
        let mut full = original.clone();
        low_resolution(&mut full, 28);
        assert_eq!(full, original, "28 is the identity");
        let mut low = original.clone();
        low_resolution(&mut low, 7);
        // About the same ink, spread wider, with no sharp edge left.
        assert!(
            (ink(&low) - ink(&original)).abs() < 0.15 * ink(&original),
            "{}",
            ink(&low)
        );
        assert!(low[14 * IMAGE_SIDE + 11] > 0.05, "spread sideways");
        assert!(low.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(low[14 * IMAGE_SIDE + 13] < 1.0);
        // A constant image stays constant at any resolution.
        let mut flat = vec![0.25; IMAGE_PIXELS];
        low_resolution(&mut flat, 9);
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-5));
    }

    #[test]
    fn binarising_keeps_only_what_is_above_the_threshold() {
        let mut image: Vec<f32> = (0..IMAGE_PIXELS)
            .map(|i| i as f32 / IMAGE_PIXELS as f32)
            .collect();
        binarise(&mut image, 0.5);
        assert!(image.iter().all(|&v| v == 0.0 || v == 1.0));
        assert_eq!(
            image.iter().filter(|&&v| v == 1.0).count(),
            IMAGE_PIXELS / 2 - 1
        );
    }
}
