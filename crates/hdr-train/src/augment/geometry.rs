//! Where each pixel of an augmented image comes from: an affine warp
//! (rotation, scaling, aspect stretch, slant, shift) plus an optional smooth
//! elastic displacement, sampled bilinearly in one pass.

use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE};
use rand::Rng;

/// The centre of the image, about which rotation, scaling and slant happen.
const CENTRE: f32 = (IMAGE_SIDE as f32 - 1.0) / 2.0;

/// One image's affine warp: the output is the input slanted by `shear`,
/// stretched by `stretch`, rotated by `angle` and scaled by `scale` about the
/// centre, then moved by (`shift_x`, `shift_y`) pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// In radians; positive turns clockwise on screen (x right, y down).
    pub angle: f32,
    /// Size factor; above 1 enlarges the digit.
    pub scale: f32,
    /// Rightward shift in pixels.
    pub shift_x: f32,
    /// Downward shift in pixels.
    pub shift_y: f32,
    /// Slant: `x += shear * (y - centre)` (y grows downwards), so positive
    /// moves the bottom right and the top left: a backward lean; negative
    /// is the usual forward slant.
    pub shear: f32,
    /// Aspect change: the width is multiplied by `exp(stretch / 2)` and the
    /// height divided by it (positive: wider and shorter).
    pub stretch: f32,
}

impl Affine {
    /// The warp that changes nothing.
    pub const IDENTITY: Affine = Affine {
        angle: 0.0,
        scale: 1.0,
        shift_x: 0.0,
        shift_y: 0.0,
        shear: 0.0,
        stretch: 0.0,
    };

    /// The inverse of the warp's linear part, row-major: maps an output
    /// offset from the centre (less the shift) to the source offset.
    fn inverse(&self) -> [f32; 4] {
        let (sin, cos) = self.angle.sin_cos();
        let wide = (self.stretch / 2.0).exp();
        let inv_scale = 1.0 / self.scale;
        // M = scale * R(angle) * diag(wide, 1 / wide) * [[1, shear], [0, 1]];
        // M⁻¹ = [[1, -shear], [0, 1]] * diag(1 / wide, wide) * R(-angle) / scale.
        let (r00, r01, r10, r11) = (cos, sin, -sin, cos);
        let (d0, d1) = (1.0 / wide, wide);
        let (a00, a01, a10, a11) = (d0 * r00, d0 * r01, d1 * r10, d1 * r11);
        [
            (a00 - self.shear * a10) * inv_scale,
            (a01 - self.shear * a11) * inv_scale,
            a10 * inv_scale,
            a11 * inv_scale,
        ]
    }
}

/// Control points per side of an [`Elastic`] field.
const GRID: usize = 5;

/// A smooth random displacement of every pixel (elastic distortion in the
/// spirit of Simard et al., 2003): random offsets on a coarse 5x5 grid of
/// control points, interpolated bilinearly in between. Grid interpolation
/// instead of Simard's Gaussian-smoothed noise gives the same kind of smooth
/// wobble for a hundredth of the arithmetic, so it costs training no time.
#[derive(Debug, Clone, PartialEq)]
pub struct Elastic {
    /// (dx, dy) at each control point, row-major.
    offsets: [[f32; 2]; GRID * GRID],
}

impl Elastic {
    /// A field whose control points move up to `amplitude` pixels each way.
    pub fn random(rng: &mut impl Rng, amplitude: f32) -> Self {
        let mut offsets = [[0.0; 2]; GRID * GRID];
        for o in &mut offsets {
            *o = [
                rng.gen_range(-1.0..=1.0) * amplitude,
                rng.gen_range(-1.0..=1.0) * amplitude,
            ];
        }
        Self { offsets }
    }

    /// The displacement at pixel (`x`, `y`).
    fn at(&self, x: usize, y: usize) -> [f32; 2] {
        let cell = (IMAGE_SIDE - 1) as f32 / (GRID - 1) as f32;
        let (gx, gy) = (x as f32 / cell, y as f32 / cell);
        let (x0, y0) = ((gx as usize).min(GRID - 2), (gy as usize).min(GRID - 2));
        let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
        let p = |i: usize, j: usize, k: usize| self.offsets[j * GRID + i][k];
        let lerp = |a: f32, b: f32, t: f32| a + t * (b - a);
        [0, 1].map(|k| {
            let top = lerp(p(x0, y0, k), p(x0 + 1, y0, k), fx);
            let bottom = lerp(p(x0, y0 + 1, k), p(x0 + 1, y0 + 1, k), fx);
            lerp(top, bottom, fy)
        })
    }
}

/// Warps one 28x28 image (`source`, row-major) into `target` by `affine` and,
/// when given, `elastic`.
///
/// Each output pixel is sampled bilinearly at its inverse-transformed
/// position; positions outside the image read as 0 (background), which suits
/// digits on a black ground better than Keras' default reflection.
pub fn warp(source: &[f32], target: &mut [f32], affine: Affine, elastic: Option<&Elastic>) {
    assert_eq!(source.len(), IMAGE_PIXELS, "source must be one 28x28 image");
    assert_eq!(target.len(), IMAGE_PIXELS, "target must be one 28x28 image");
    let [m00, m01, m10, m11] = affine.inverse();
    let pixel = |x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= IMAGE_SIDE as isize || y >= IMAGE_SIDE as isize {
            0.0
        } else {
            source[y as usize * IMAGE_SIDE + x as usize]
        }
    };
    for y in 0..IMAGE_SIDE {
        let dy = y as f32 - CENTRE - affine.shift_y;
        for x in 0..IMAGE_SIDE {
            let dx = x as f32 - CENTRE - affine.shift_x;
            let [ex, ey] = elastic.map_or([0.0, 0.0], |e| e.at(x, y));
            let sx = m00 * dx + m01 * dy + CENTRE + ex;
            let sy = m10 * dx + m11 * dy + CENTRE + ey;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (xi, yi) = (x0 as isize, y0 as isize);
            // Written as lerps so that a whole-pixel position reads the pixel exactly.
            let top = pixel(xi, yi) + fx * (pixel(xi + 1, yi) - pixel(xi, yi));
            let bottom = pixel(xi, yi + 1) + fx * (pixel(xi + 1, yi + 1) - pixel(xi, yi + 1));
            target[y * IMAGE_SIDE + x] = top + fy * (bottom - top);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn varied_image() -> Vec<f32> {
        (0..IMAGE_PIXELS)
            .map(|i| ((i * 37) % 256) as f32 / 255.0)
            .collect()
    }

    fn one_pixel(x: usize, y: usize) -> Vec<f32> {
        let mut image = vec![0.0; IMAGE_PIXELS];
        image[y * IMAGE_SIDE + x] = 1.0;
        image
    }

    fn warped(image: &[f32], affine: Affine, elastic: Option<&Elastic>) -> Vec<f32> {
        let mut out = vec![f32::NAN; IMAGE_PIXELS];
        warp(image, &mut out, affine, elastic);
        out
    }

    /// The intensity-weighted mean position (x, y) of an image.
    fn centre_of_mass(image: &[f32]) -> (f32, f32) {
        let total: f32 = image.iter().sum();
        let mean = |f: fn(usize) -> usize| {
            (0..IMAGE_PIXELS)
                .map(|i| image[i] * f(i) as f32)
                .sum::<f32>()
                / total
        };
        (mean(|i| i % IMAGE_SIDE), mean(|i| i / IMAGE_SIDE))
    }

    #[test]
    fn identity_warp_is_exact() {
        let image = varied_image();
        assert_eq!(warped(&image, Affine::IDENTITY, None), image);
        let still = Elastic {
            offsets: [[0.0; 2]; GRID * GRID],
        };
        assert_eq!(warped(&image, Affine::IDENTITY, Some(&still)), image);
    }

    #[test]
    fn whole_pixel_shift_moves_a_pixel_exactly() {
        let out = warped(
            &one_pixel(5, 5),
            Affine {
                shift_x: 3.0,
                shift_y: -2.0,
                ..Affine::IDENTITY
            },
            None,
        );
        let lit: Vec<usize> = (0..IMAGE_PIXELS).filter(|&i| out[i] != 0.0).collect();
        assert_eq!(
            lit,
            vec![3 * IMAGE_SIDE + 8],
            "(x5,y5) must land on (x8,y3)"
        );
        assert_eq!(out[3 * IMAGE_SIDE + 8], 1.0);
    }

    #[test]
    fn half_pixel_shift_splits_a_pixel_between_neighbours() {
        let out = warped(
            &one_pixel(10, 10),
            Affine {
                shift_x: 0.5,
                ..Affine::IDENTITY
            },
            None,
        );
        assert_eq!(out[10 * IMAGE_SIDE + 10], 0.5);
        assert_eq!(out[10 * IMAGE_SIDE + 11], 0.5);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn quarter_turn_rotates_about_the_centre() {
        // (x20, y14) is 6.5 right of and 0.5 below the centre; a positive
        // (clockwise on screen) quarter turn puts it 0.5 left of and 6.5 below.
        let out = warped(
            &one_pixel(20, 14),
            Affine {
                angle: std::f32::consts::FRAC_PI_2,
                ..Affine::IDENTITY
            },
            None,
        );
        let brightest = (0..IMAGE_PIXELS)
            .max_by(|&a, &b| out[a].total_cmp(&out[b]))
            .unwrap();
        assert_eq!(brightest, 20 * IMAGE_SIDE + 13);
        assert!(out[brightest] > 0.99);
    }

    #[test]
    fn scaling_moves_pixels_away_from_the_centre() {
        // A 2x2 block centred 6 right of the centre lands 9 right at scale 1.5.
        let mut image = vec![0.0; IMAGE_PIXELS];
        for (x, y) in [(19, 13), (19, 14), (20, 13), (20, 14)] {
            image[y * IMAGE_SIDE + x] = 1.0;
        }
        let out = warped(
            &image,
            Affine {
                scale: 1.5,
                ..Affine::IDENTITY
            },
            None,
        );
        let (x, _) = centre_of_mass(&out);
        assert!((x - 22.5).abs() < 0.05, "got {x}");
    }

    #[test]
    fn shear_slants_rows_by_their_height() {
        // A pixel 6 rows below the centre moves 6 * 0.5 = 3 to the right.
        let out = warped(
            &one_pixel(14, 20),
            Affine {
                shear: 0.5,
                ..Affine::IDENTITY
            },
            None,
        );
        let (x, y) = centre_of_mass(&out);
        assert!((x - (14.0 + 0.5 * (20.0 - CENTRE))).abs() < 0.05, "x {x}");
        assert!((y - 20.0).abs() < 0.05, "y {y}");
    }

    #[test]
    fn stretch_widens_and_flattens() {
        // (x20, y20) is 6.5 right of and 6.5 below the centre; stretch ln 4
        // doubles widths and halves heights.
        let out = warped(
            &one_pixel(20, 20),
            Affine {
                stretch: 4f32.ln(),
                ..Affine::IDENTITY
            },
            None,
        );
        let (x, y) = centre_of_mass(&out);
        assert!((x - (CENTRE + 13.0)).abs() < 0.3, "x {x}");
        assert!((y - (CENTRE + 3.25)).abs() < 0.3, "y {y}");
    }

    #[test]
    fn elastic_fields_are_smooth_bounded_and_seeded() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let field = Elastic::random(&mut rng, 2.0);
        assert_eq!(
            field,
            Elastic::random(&mut ChaCha8Rng::seed_from_u64(3), 2.0)
        );
        assert_ne!(
            field,
            Elastic::random(&mut ChaCha8Rng::seed_from_u64(4), 2.0)
        );
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                let [dx, dy] = field.at(x, y);
                assert!(dx.abs() <= 2.0 && dy.abs() <= 2.0);
                // Neighbouring pixels move nearly together (smooth).
                if x + 1 < IMAGE_SIDE {
                    let [nx, ny] = field.at(x + 1, y);
                    assert!(
                        (nx - dx).abs() <= 4.0 / 6.75 + 1e-4
                            && (ny - dy).abs() <= 4.0 / 6.75 + 1e-4
                    );
                }
            }
        }
        // The corners are control points: they move by exactly their offsets.
        assert_eq!(field.at(0, 0), field.offsets[0]);
        let [x, y] = field.at(IMAGE_SIDE - 1, IMAGE_SIDE - 1);
        let [ox, oy] = field.offsets[GRID * GRID - 1];
        assert!((x - ox).abs() < 1e-5 && (y - oy).abs() < 1e-5);
        // And it moves the ink.
        let image = varied_image();
        let out = warped(&image, Affine::IDENTITY, Some(&field));
        assert_ne!(out, image);
    }
}
