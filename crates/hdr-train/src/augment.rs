//! Data augmentation: a random affine warp (rotation, scaling, shift) of
//! training images with bilinear sampling, like the Keras peer's
//! `RandomTranslation(0.1, 0.1)` and `RandomZoom(0.1)`, with a milder rotation
//! than its `RandomRotation(0.05)`, applied to half of the images each epoch.
//!
//! Why milder than the peer: warping every image with the peer's ±18°
//! rotations left the network unable to fit the clean images it is scored
//! on; ±10° (the usual MNIST setting) with half the images left as they are
//! fits them and generalises better on the embedded sample.
//!
//! Images are augmented a batch at a time, from their grey levels straight
//! into the batch's floats, so no augmented copy of the training set is kept.
//! Each image's warp is drawn from its own RNG keyed by (seed, epoch, image
//! index), so the augmented images are the same whatever the batch they are
//! in, the number of threads and the order rayon visits them in.

use hdr_artifacts::{pixels_to_unit, IMAGE_PIXELS, IMAGE_SIDE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::seeds::{derive_seed, Stream};

/// Largest rotation either way, in radians: ±10°, milder than Keras'
/// `RandomRotation(0.05)` (0.05 of a full turn, ±18°; see the module docs).
pub const MAX_ROTATION: f32 = 10.0 * std::f32::consts::PI / 180.0;
/// Largest shift either way, as a share of the side: `RandomTranslation(0.1)`,
/// i.e. ±2.8 pixels.
pub const MAX_SHIFT_FRACTION: f32 = 0.1;
/// Largest relative change of size: `RandomZoom(0.1)`, i.e. a scale in [0.9, 1.1].
pub const MAX_ZOOM: f32 = 0.1;
/// Share of the images warped in an epoch; the others are shown as they are,
/// so the network also learns the clean digits it will be scored on.
pub const WARP_PROBABILITY: f32 = 0.5;

/// The centre of the image, about which rotation and scaling happen.
const CENTRE: f32 = (IMAGE_SIDE as f32 - 1.0) / 2.0;

/// One image's warp: the output is the input rotated by `angle` and scaled by
/// `scale` about the centre, then moved by (`shift_x`, `shift_y`) pixels.
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
}

impl Affine {
    /// The warp that changes nothing.
    pub const IDENTITY: Affine = Affine {
        angle: 0.0,
        scale: 1.0,
        shift_x: 0.0,
        shift_y: 0.0,
    };

    /// A random warp within the Keras-like ranges, uniform in each parameter.
    pub fn random(rng: &mut impl Rng) -> Self {
        let max_shift = MAX_SHIFT_FRACTION * IMAGE_SIDE as f32;
        Affine {
            angle: rng.gen_range(-MAX_ROTATION..=MAX_ROTATION),
            scale: rng.gen_range(1.0 - MAX_ZOOM..=1.0 + MAX_ZOOM),
            shift_x: rng.gen_range(-max_shift..=max_shift),
            shift_y: rng.gen_range(-max_shift..=max_shift),
        }
    }

    /// The warp of image `index` in `epoch` (0-based) for `seed`: a random one
    /// with probability [`WARP_PROBABILITY`], else the identity.
    pub fn for_image(seed: u64, epoch: usize, index: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
            seed,
            Stream::Augment,
            epoch as u64,
            index as u64,
        ));
        let affine = Self::random(&mut rng);
        if rng.gen::<f32>() < WARP_PROBABILITY {
            affine
        } else {
            Self::IDENTITY
        }
    }
}

/// Warps one 28x28 image (`source`, row-major) into `target`.
///
/// Each output pixel is sampled bilinearly at the inverse-transformed
/// position; positions outside the image read as 0 (background), which suits
/// digits on a black ground better than Keras' default reflection.
pub fn warp(source: &[f32], target: &mut [f32], affine: Affine) {
    assert_eq!(source.len(), IMAGE_PIXELS, "source must be one 28x28 image");
    assert_eq!(target.len(), IMAGE_PIXELS, "target must be one 28x28 image");
    // Inverse map: src = R(-angle) (dst - centre - shift) / scale + centre.
    let (sin, cos) = affine.angle.sin_cos();
    let inv_scale = 1.0 / affine.scale;
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
            let sx = (cos * dx + sin * dy) * inv_scale + CENTRE;
            let sy = (cos * dy - sin * dx) * inv_scale + CENTRE;
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

/// Writes training image `index` (`pixels`, its 784 grey levels) into
/// `target` as the network sees it in `epoch`: scaled with
/// [`hdr_artifacts::pixel_to_unit`], then warped by [`Affine::for_image`]`(seed, epoch, index)`
/// unless that is the identity.
pub fn augment_image(pixels: &[u8], target: &mut [f32], seed: u64, epoch: usize, index: usize) {
    let affine = Affine::for_image(seed, epoch, index);
    if affine == Affine::IDENTITY {
        pixels_to_unit(pixels, target); // what the identity warp gives, exactly
    } else {
        let mut source = [0.0f32; IMAGE_PIXELS];
        pixels_to_unit(pixels, &mut source);
        warp(&source, target, affine);
    }
}

/// Fills `target` (784 floats per image, in order) with a batch of training
/// images as the network sees them in `epoch`: each `(index, pixels)` through
/// [`augment_image`]. Runs on all cores; the result does not depend on the
/// number of threads.
pub fn augment_batch(images: &[(usize, &[u8])], target: &mut [f32], seed: u64, epoch: usize) {
    assert_eq!(
        images.len() * IMAGE_PIXELS,
        target.len(),
        "784 floats per image"
    );
    target
        .par_chunks_mut(IMAGE_PIXELS)
        .zip(images.par_iter())
        .for_each(|(out, &(index, pixels))| augment_image(pixels, out, seed, epoch, index));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varied_image() -> Vec<f32> {
        (0..IMAGE_PIXELS)
            .map(|i| ((i * 37) % 256) as f32 / 255.0)
            .collect()
    }

    #[test]
    fn identity_warp_is_exact() {
        let image = varied_image();
        let mut out = vec![f32::NAN; IMAGE_PIXELS];
        warp(&image, &mut out, Affine::IDENTITY);
        assert_eq!(out, image);
    }

    #[test]
    fn whole_pixel_shift_moves_a_pixel_exactly() {
        let mut image = vec![0.0; IMAGE_PIXELS];
        image[5 * IMAGE_SIDE + 5] = 1.0;
        let mut out = vec![0.0; IMAGE_PIXELS];
        warp(
            &image,
            &mut out,
            Affine {
                shift_x: 3.0,
                shift_y: -2.0,
                ..Affine::IDENTITY
            },
        );
        let lit: Vec<usize> = (0..IMAGE_PIXELS).filter(|&i| out[i] != 0.0).collect();
        assert_eq!(
            lit,
            vec![3 * IMAGE_SIDE + 8],
            "pixel (x5,y5) must land on (x8,y3)"
        );
        assert_eq!(out[3 * IMAGE_SIDE + 8], 1.0);
    }

    #[test]
    fn half_pixel_shift_splits_a_pixel_between_neighbours() {
        let mut image = vec![0.0; IMAGE_PIXELS];
        image[10 * IMAGE_SIDE + 10] = 1.0;
        let mut out = vec![0.0; IMAGE_PIXELS];
        warp(
            &image,
            &mut out,
            Affine {
                shift_x: 0.5,
                ..Affine::IDENTITY
            },
        );
        assert_eq!(out[10 * IMAGE_SIDE + 10], 0.5);
        assert_eq!(out[10 * IMAGE_SIDE + 11], 0.5);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn quarter_turn_rotates_about_the_centre() {
        // A pixel right of the centre goes below it for a positive
        // (clockwise on screen) quarter turn.
        let mut image = vec![0.0; IMAGE_PIXELS];
        image[14 * IMAGE_SIDE + 20] = 1.0; // (x20, y14): 6.5 right, 0.5 below the centre
        let mut out = vec![0.0; IMAGE_PIXELS];
        warp(
            &image,
            &mut out,
            Affine {
                angle: std::f32::consts::FRAC_PI_2,
                ..Affine::IDENTITY
            },
        );
        // Rotated: 0.5 left of and 6.5 below the centre => (x13, y20).
        let brightest = (0..IMAGE_PIXELS)
            .max_by(|&a, &b| out[a].total_cmp(&out[b]))
            .unwrap();
        assert_eq!(brightest, 20 * IMAGE_SIDE + 13);
        assert!(out[brightest] > 0.99);
    }

    #[test]
    fn scaling_moves_pixels_away_from_the_centre() {
        // (x19.5, y13.5) is 6 right of the centre; at scale 1.5 it lands 9 right.
        let mut image = vec![0.0; IMAGE_PIXELS];
        image[13 * IMAGE_SIDE + 19] = 1.0;
        image[14 * IMAGE_SIDE + 19] = 1.0;
        image[13 * IMAGE_SIDE + 20] = 1.0;
        image[14 * IMAGE_SIDE + 20] = 1.0;
        let mut out = vec![0.0; IMAGE_PIXELS];
        warp(
            &image,
            &mut out,
            Affine {
                scale: 1.5,
                ..Affine::IDENTITY
            },
        );
        let centre_of_mass_x: f32 = (0..IMAGE_PIXELS)
            .map(|i| out[i] * (i % IMAGE_SIDE) as f32)
            .sum::<f32>()
            / out.iter().sum::<f32>();
        assert!(
            (centre_of_mass_x - 22.5).abs() < 0.05,
            "got {centre_of_mass_x}"
        );
    }

    #[test]
    fn random_warps_stay_in_range_and_depend_on_every_key() {
        let mut identities = 0;
        for index in 0..1000 {
            let a = Affine::for_image(7, 3, index);
            assert!(a.angle.abs() <= MAX_ROTATION);
            assert!((a.scale - 1.0).abs() <= MAX_ZOOM + 1e-6);
            assert!(a.shift_x.abs() <= 2.8 + 1e-5 && a.shift_y.abs() <= 2.8 + 1e-5);
            identities += usize::from(a == Affine::IDENTITY);
        }
        assert!(
            (430..=570).contains(&identities),
            "about half the images stay as they are: {identities}"
        );
        let index = (0..)
            .find(|&i| Affine::for_image(7, 3, i) != Affine::IDENTITY)
            .unwrap();
        let base = Affine::for_image(7, 3, index);
        assert_eq!(base, Affine::for_image(7, 3, index));
        assert_ne!(base, Affine::for_image(8, 3, index));
        assert_ne!(base, Affine::for_image(7, 4, index));
        assert_ne!(base, Affine::for_image(7, 3, index + 1));
    }

    #[test]
    fn augmenting_a_batch_does_not_depend_on_thread_count_or_batching() {
        let pixels: Vec<u8> = (0..IMAGE_PIXELS * 64)
            .map(|i| ((i * 13) % 256) as u8)
            .collect();
        let images: Vec<(usize, &[u8])> = pixels.chunks(IMAGE_PIXELS).enumerate().collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = vec![0.0; pixels.len()];
            pool.install(|| augment_batch(&images, &mut out, 5, 2));
            out
        };
        let one = run(1);
        assert_eq!(one, run(3));
        let mut halves = vec![0.0; pixels.len()];
        let (first, second) = halves.split_at_mut(32 * IMAGE_PIXELS);
        augment_batch(&images[..32], first, 5, 2);
        augment_batch(&images[32..], second, 5, 2);
        assert_eq!(one, halves, "an image comes out the same in any batch");
        let scaled: Vec<f32> = pixels
            .iter()
            .map(|&p| hdr_artifacts::pixel_to_unit(p))
            .collect();
        assert_ne!(one, scaled, "augmentation changed the images");
        // Images left as they are come out exactly scaled; warped ones as
        // `warp` of the scaled image.
        for (index, out) in one.chunks(IMAGE_PIXELS).enumerate() {
            let source = &scaled[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS];
            let mut expected = source.to_vec();
            let affine = Affine::for_image(5, 2, index);
            if affine != Affine::IDENTITY {
                warp(source, &mut expected, affine);
            }
            assert_eq!(out, &expected[..], "image {index}");
        }
    }
}
