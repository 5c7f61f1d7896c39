//! Data augmentation: what makes one person's digits look like another's,
//! and one scan like another, applied afresh to training images each epoch.
//!
//! Per image, each independently and each with its own key under `[train]`:
//! - a random affine warp (rotation ±10°, scaling ±10%, shifts of ±10% like the
//!   Keras peer's `RandomTranslation(0.1, 0.1)` and `RandomZoom(0.1)`, plus a
//!   slant and an aspect stretch), on `augment_warp` of the images;
//! - an elastic distortion ([`Elastic`]), on `augment_elastic` of them;
//! - a thicker or thinner pen ([`stroke`]), on `augment_stroke` of them;
//! - a low-resolution scan, down to 7-14 pixels a side and back up
//!   ([`low_resolution`]), on `augment_low_resolution` of them;
//! - a black-and-white scan ([`binarise`]), on `augment_binarise` of them.
//!
//! The rest of every epoch's images are shown as they are, so the network
//! also learns the clean digits it is scored on. Why the rotation is milder
//! than the peer's ±18° (`RandomRotation(0.05)`): warping every image that
//! much left the network unable to fit the clean images; ±10° (the usual
//! MNIST setting) fits them and generalises better.
//!
//! Images are augmented a batch at a time, from their grey levels straight
//! into the batch's floats, so no augmented copy of the training set is kept.
//! Each image's draws come from its own RNG keyed by (seed, epoch, image
//! index), and every draw is made whether or not it is used, so the augmented
//! images are the same whatever the batch they are in, the number of threads,
//! the order rayon visits them in, and the other keys.

mod geometry;
mod style;

use hdr_artifacts::{pixels_to_unit, IMAGE_PIXELS, IMAGE_SIDE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::seeds::{derive_seed, Stream};
use crate::Config;
pub use geometry::{warp, Affine, Elastic};
pub use style::{binarise, low_resolution, stroke};

/// Largest rotation either way, in radians: ±10°, milder than Keras'
/// `RandomRotation(0.05)` (0.05 of a full turn, ±18°; see the module docs).
pub const MAX_ROTATION: f32 = 10.0 * std::f32::consts::PI / 180.0;
/// Largest shift either way, as a share of the side: `RandomTranslation(0.1)`,
/// i.e. ±2.8 pixels.
pub const MAX_SHIFT_FRACTION: f32 = 0.1;
/// Largest relative change of size: `RandomZoom(0.1)`, i.e. a scale in [0.9, 1.1].
pub const MAX_ZOOM: f32 = 0.1;
/// How far an elastic distortion's control points move, in pixels either way.
pub const ELASTIC_AMPLITUDE: f32 = 1.5;
/// The sides a low-resolution scan is averaged down to (UCI's digits are 8x8).
pub const LOW_RESOLUTION_SIDES: std::ops::RangeInclusive<usize> = 7..=14;
/// Black-and-white thresholds, in [0, 1] of full ink.
pub const BINARISE_THRESHOLDS: std::ops::RangeInclusive<f32> = 0.3..=0.6;

/// How training images are augmented: the `[train]` keys that say so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Share of images warped (rotation, scale, shift, slant, stretch).
    pub warp: f32,
    /// Largest slant either way, as `x` per `y` (0.3 is about 17°).
    pub max_shear: f32,
    /// Largest aspect stretch either way, as the log of width over height.
    pub max_stretch: f32,
    /// Share of images elastically distorted.
    pub elastic: f32,
    /// Share of images drawn with a thicker or thinner pen.
    pub stroke: f32,
    /// Share of images scanned at low resolution.
    pub low_resolution: f32,
    /// Share of images scanned in black and white.
    pub binarise: f32,
}

impl Augmentation {
    /// No augmentation at all.
    pub const NONE: Augmentation = Augmentation {
        warp: 0.0,
        max_shear: 0.0,
        max_stretch: 0.0,
        elastic: 0.0,
        stroke: 0.0,
        low_resolution: 0.0,
        binarise: 0.0,
    };

    /// What `config` asks for (nothing when `augment` is off).
    pub fn of(config: &Config) -> Self {
        if !config.augment {
            return Self::NONE;
        }
        Augmentation {
            warp: config.augment_warp as f32,
            max_shear: config.augment_shear as f32,
            max_stretch: config.augment_stretch as f32,
            elastic: config.augment_elastic as f32,
            stroke: config.augment_stroke as f32,
            low_resolution: config.augment_low_resolution as f32,
            binarise: config.augment_binarise as f32,
        }
    }
}

/// Everything drawn for one image in one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// The affine warp, or the identity.
    pub affine: Affine,
    /// The elastic distortion, if any.
    pub elastic: Option<Elastic>,
    /// The pen change (see [`stroke`]), 0 for none.
    pub stroke: f32,
    /// The low-resolution side, if any.
    pub low_resolution: Option<usize>,
    /// The black-and-white threshold, if any.
    pub binarise: Option<f32>,
}

impl Draw {
    /// The draws for image `index` in `epoch` (0-based) for `seed`.
    pub fn for_image(augmentation: &Augmentation, seed: u64, epoch: usize, index: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
            seed,
            Stream::Augment,
            epoch as u64,
            index as u64,
        ));
        let a = augmentation;
        let max_shift = MAX_SHIFT_FRACTION * IMAGE_SIDE as f32;
        let affine = Affine {
            angle: rng.gen_range(-MAX_ROTATION..=MAX_ROTATION),
            scale: rng.gen_range(1.0 - MAX_ZOOM..=1.0 + MAX_ZOOM),
            shift_x: rng.gen_range(-max_shift..=max_shift),
            shift_y: rng.gen_range(-max_shift..=max_shift),
            shear: rng.gen_range(-1.0f32..=1.0) * a.max_shear,
            stretch: rng.gen_range(-1.0f32..=1.0) * a.max_stretch,
        };
        let warped = rng.gen::<f32>() < a.warp;
        let elastic = Elastic::random(&mut rng, ELASTIC_AMPLITUDE);
        let distorted = rng.gen::<f32>() < a.elastic;
        // Thicker pens twice as often as thinner ones: scans and thick
        // markers blur strokes more often than fine pens thin them.
        let pen = rng.gen_range(-0.5f32..=1.0);
        let pen_changed = rng.gen::<f32>() < a.stroke;
        let side = rng.gen_range(LOW_RESOLUTION_SIDES);
        let low = rng.gen::<f32>() < a.low_resolution;
        let threshold = rng.gen_range(BINARISE_THRESHOLDS);
        let black_and_white = rng.gen::<f32>() < a.binarise;
        Draw {
            affine: if warped { affine } else { Affine::IDENTITY },
            elastic: distorted.then_some(elastic),
            stroke: if pen_changed { pen } else { 0.0 },
            low_resolution: low.then_some(side),
            binarise: black_and_white.then_some(threshold),
        }
    }

    /// Whether the image is shown as it is.
    pub fn is_identity(&self) -> bool {
        self.affine == Affine::IDENTITY
            && self.elastic.is_none()
            && self.stroke == 0.0
            && self.low_resolution.is_none()
            && self.binarise.is_none()
    }
}

/// Writes training image `index` (`pixels`, its 784 grey levels) into
/// `target` as the network sees it in `epoch`: scaled with
/// [`hdr_artifacts::pixel_to_unit`], then warped, distorted, re-penned and
/// re-scanned as [`Draw::for_image`] says (in that order).
pub fn augment_image(
    augmentation: &Augmentation,
    pixels: &[u8],
    target: &mut [f32],
    seed: u64,
    epoch: usize,
    index: usize,
) {
    let draw = Draw::for_image(augmentation, seed, epoch, index);
    if draw.affine == Affine::IDENTITY && draw.elastic.is_none() {
        pixels_to_unit(pixels, target); // what the identity warp gives, exactly
    } else {
        let mut source = [0.0f32; IMAGE_PIXELS];
        pixels_to_unit(pixels, &mut source);
        warp(&source, target, draw.affine, draw.elastic.as_ref());
    }
    if draw.stroke != 0.0 {
        stroke(target, draw.stroke);
    }
    if let Some(side) = draw.low_resolution {
        low_resolution(target, side);
    }
    if let Some(threshold) = draw.binarise {
        binarise(target, threshold);
    }
}

/// Fills `target` (784 floats per image, in order) with a batch of training
/// images as the network sees them in `epoch`: each `(index, pixels)` through
/// [`augment_image`]. Runs on all cores; the result does not depend on the
/// number of threads.
pub fn augment_batch(
    augmentation: &Augmentation,
    images: &[(usize, &[u8])],
    target: &mut [f32],
    seed: u64,
    epoch: usize,
) {
    assert_eq!(
        images.len() * IMAGE_PIXELS,
        target.len(),
        "784 floats per image"
    );
    target
        .par_chunks_mut(IMAGE_PIXELS)
        .zip(images.par_iter())
        .for_each(|(out, &(index, pixels))| {
            augment_image(augmentation, pixels, out, seed, epoch, index)
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every augmentation on, at the given share.
    fn all(share: f32) -> Augmentation {
        Augmentation {
            warp: share,
            max_shear: 0.3,
            max_stretch: 0.2,
            elastic: share,
            stroke: share,
            low_resolution: share,
            binarise: share,
        }
    }

    #[test]
    fn draws_stay_in_range_follow_their_shares_and_depend_on_every_key() {
        let a = all(0.5);
        let (mut warped, mut distorted, mut penned, mut low, mut bw, mut clean) =
            (0, 0, 0, 0, 0, 0);
        for index in 0..1000 {
            let d = Draw::for_image(&a, 7, 3, index);
            let f = d.affine;
            assert!(f.angle.abs() <= MAX_ROTATION);
            assert!((f.scale - 1.0).abs() <= MAX_ZOOM + 1e-6);
            assert!(f.shift_x.abs() <= 2.8 + 1e-5 && f.shift_y.abs() <= 2.8 + 1e-5);
            assert!(f.shear.abs() <= 0.3 && f.stretch.abs() <= 0.2);
            assert!((-0.5..=1.0).contains(&d.stroke));
            assert!(d
                .low_resolution
                .is_none_or(|s| LOW_RESOLUTION_SIDES.contains(&s)));
            assert!(d.binarise.is_none_or(|t| BINARISE_THRESHOLDS.contains(&t)));
            warped += usize::from(f != Affine::IDENTITY);
            distorted += usize::from(d.elastic.is_some());
            penned += usize::from(d.stroke != 0.0);
            low += usize::from(d.low_resolution.is_some());
            bw += usize::from(d.binarise.is_some());
            clean += usize::from(d.is_identity());
        }
        for (what, count) in [
            ("warped", warped),
            ("distorted", distorted),
            ("penned", penned),
            ("low", low),
            ("bw", bw),
        ] {
            assert!((430..=570).contains(&count), "about half {what}: {count}");
        }
        assert!(
            (10..=60).contains(&clean),
            "about 1 in 32 untouched: {clean}"
        );
        let index = (0..)
            .find(|&i| !Draw::for_image(&a, 7, 3, i).is_identity())
            .unwrap();
        let base = Draw::for_image(&a, 7, 3, index);
        assert_eq!(base, Draw::for_image(&a, 7, 3, index));
        assert_ne!(base, Draw::for_image(&a, 8, 3, index));
        assert_ne!(base, Draw::for_image(&a, 7, 4, index));
        assert_ne!(base, Draw::for_image(&a, 7, 3, index + 1));
    }

    #[test]
    fn keys_are_independent_and_none_changes_nothing() {
        // Turning one augmentation off leaves the others' draws as they were.
        let on = all(0.5);
        let no_elastic = Augmentation { elastic: 0.0, ..on };
        for index in 0..100 {
            let (a, b) = (
                Draw::for_image(&on, 1, 0, index),
                Draw::for_image(&no_elastic, 1, 0, index),
            );
            assert_eq!(
                (a.affine, a.stroke, a.low_resolution, a.binarise),
                (b.affine, b.stroke, b.low_resolution, b.binarise)
            );
            assert!(b.elastic.is_none());
            assert!(Draw::for_image(&Augmentation::NONE, 1, 0, index).is_identity());
        }
        let pixels: Vec<u8> = (0..IMAGE_PIXELS).map(|i| (i % 251) as u8).collect();
        let mut out = vec![0.0; IMAGE_PIXELS];
        augment_image(&Augmentation::NONE, &pixels, &mut out, 1, 0, 0);
        let scaled: Vec<f32> = pixels
            .iter()
            .map(|&p| hdr_artifacts::pixel_to_unit(p))
            .collect();
        assert_eq!(out, scaled);
    }

    #[test]
    fn augmenting_a_batch_does_not_depend_on_thread_count_or_batching() {
        let a = all(0.5);
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
            pool.install(|| augment_batch(&a, &images, &mut out, 5, 2));
            out
        };
        let one = run(1);
        assert_eq!(one, run(3));
        let mut halves = vec![0.0; pixels.len()];
        let (first, second) = halves.split_at_mut(32 * IMAGE_PIXELS);
        augment_batch(&a, &images[..32], first, 5, 2);
        augment_batch(&a, &images[32..], second, 5, 2);
        assert_eq!(one, halves, "an image comes out the same in any batch");
        // Each image is what its draw says, step by step.
        for (index, out) in one.chunks(IMAGE_PIXELS).enumerate() {
            let mut expected: Vec<f32> = images[index]
                .1
                .iter()
                .map(|&p| hdr_artifacts::pixel_to_unit(p))
                .collect();
            let d = Draw::for_image(&a, 5, 2, index);
            if d.affine != Affine::IDENTITY || d.elastic.is_some() {
                let source = expected.clone();
                warp(&source, &mut expected, d.affine, d.elastic.as_ref());
            }
            if d.stroke != 0.0 {
                stroke(&mut expected, d.stroke);
            }
            if let Some(side) = d.low_resolution {
                low_resolution(&mut expected, side);
            }
            if let Some(t) = d.binarise {
                binarise(&mut expected, t);
            }
            assert_eq!(out, &expected[..], "image {index}");
        }
    }
}
