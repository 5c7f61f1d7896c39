//! Turns a photo or scan of one handwritten digit into a 28x28 image the way
//! MNIST was made: bright ink on black, cropped to the ink, the longer side
//! scaled to 20 px with anti-aliasing, and the centre of mass put at (14, 14).
//!
//! The steps, each in its own module: `working` composites over white and
//! shrinks large images; `ink` models the paper and finds the ink's
//! polarity; `clean` separates ink from background; `geometry` crops and
//! scales; this module chains them and centres the result. A large image is
//! first worked on at a coarse size (`COARSE_SIDE`), and again at up to
//! `MAX_WORKING_SIDE` only when the coarse look was too small to trust.

mod clean;
mod geometry;
mod ink;
mod working;

use hdr_artifacts::{IMAGE_PIXELS, IMAGE_SIDE};
use image::DynamicImage;

use geometry::{bounding_box, crop, dilate, pad, resample, stroke_width};
pub(crate) use working::shrink_for_work;
use working::MAX_WORKING_SIDE;

/// The longer side of the ink's bounding box after scaling, as in MNIST.
pub const BOX_SIDE: usize = 20;
/// Where the ink's centre of mass lands (column and row index), as in MNIST.
pub const CENTRE: f64 = 14.0;
/// The narrowest and shortest image that can show a digit, in pixels.
pub const MIN_IMAGE_SIDE: u32 = 5;

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
    /// Fewer than [`MIN_IMAGE_SIDE`] pixels wide or tall.
    #[error("the image is {width} x {height} pixels, too small to show a digit (at least {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE})")]
    TooSmall {
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
    },
}

/// Converts an image of one digit into the 28x28 grey image the model expects
/// (row-major, 0 = background, 255 = ink core).
///
/// Works for dark ink on light paper and light ink on dark, grey or colour,
/// 8 or 16 bits, any size; transparent pixels count as white paper.
pub fn preprocess(img: &DynamicImage) -> Result<[u8; IMAGE_PIXELS], PreprocessError> {
    let (width, height) = (img.width(), img.height());
    if width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE {
        return Err(PreprocessError::TooSmall { width, height });
    }
    let (w, h) = (width as usize, height as usize);
    if working::block_factor(w, h, COARSE_SIDE) > working::block_factor(w, h, MAX_WORKING_SIDE) {
        if let Ok(coarse) = digit_at(img, COARSE_SIDE) {
            if coarse.stroke_width >= MIN_COARSE_STROKE && coarse.longer_side >= MIN_COARSE_BOX {
                return Ok(centre_by_mass(&coarse.digit));
            }
        }
    }
    Ok(centre_by_mass(&digit_at(img, MAX_WORKING_SIDE)?.digit))
}

/// Large images are first looked at block-averaged down to this longer side
/// (a 280x280 drawing by 3x3 blocks): a tenth of the pixels to clean. That
/// result stands when averaging cannot have cost the 20 px digit anything:
/// strokes still [`MIN_COARSE_STROKE`] px wide and the ink's box at least
/// [`MIN_COARSE_BOX`] px long. Otherwise (thin pen, small digit, faint ink)
/// the image is looked at again at up to [`MAX_WORKING_SIDE`].
const COARSE_SIDE: usize = 128;
/// Narrowest mean stroke (working pixels) that lets the coarse look stand.
const MIN_COARSE_STROKE: f32 = 3.0;
/// Shortest longer side of the ink's box (working pixels) that lets the
/// coarse look stand: twice the box it is scaled into.
const MIN_COARSE_BOX: usize = 2 * BOX_SIDE;

/// The digit found in `img` worked on at up to `max_side` pixels a side.
fn digit_at(img: &DynamicImage, max_side: usize) -> Result<Normalised, PreprocessError> {
    let ink = ink::ink_map(&working::working_image(img, max_side));
    let cleaned = clean::clean(ink)?;
    normalise_size(&cleaned)
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

/// A digit scaled into the [`BOX_SIDE`] box, and what the ink measured in
/// working pixels before scaling.
struct Normalised {
    digit: Plane,
    /// Mean stroke width of the cropped ink.
    stroke_width: f32,
    /// The longer side of the ink's bounding box.
    longer_side: usize,
}

/// Crops to the ink and scales its longer side to [`BOX_SIDE`], thickening
/// strokes that would come out much thinner than MNIST's (a ballpoint pen on
/// a large photo).
fn normalise_size(plane: &Plane) -> Result<Normalised, PreprocessError> {
    let bbox = bounding_box(plane).ok_or(PreprocessError::NoInk)?;
    let mut digit = crop(plane, bbox);
    let longer_side = digit.width.max(digit.height);
    let scale = BOX_SIDE as f32 / longer_side as f32;
    let stroke = stroke_width(&digit);
    let width_in_box = stroke * scale;
    if scale < 0.5 && width_in_box > 0.0 && width_in_box < MIN_STROKE_WIDTH {
        let radius = ((TARGET_STROKE_WIDTH / scale - stroke) / 2.0)
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
    Ok(Normalised {
        digit: resample(&digit, fit(digit.width), fit(digit.height)),
        stroke_width: stroke,
        longer_side,
    })
}

/// Pastes the digit into the 28x28 canvas with its centre of mass at
/// ([`CENTRE`], [`CENTRE`]) (whole-pixel shift, kept inside the canvas).
fn centre_by_mass(digit: &Plane) -> [u8; IMAGE_PIXELS] {
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
        wanted.clamp(0.0, (IMAGE_SIDE - side) as f64) as usize
    };
    let (ox, oy) = (offset(sum_x, digit.width), offset(sum_y, digit.height));
    let mut canvas = [0u8; IMAGE_PIXELS];
    for y in 0..digit.height {
        for x in 0..digit.width {
            canvas[(y + oy) * IMAGE_SIDE + x + ox] =
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
    fn moments(canvas: &[u8; IMAGE_PIXELS]) -> (f64, f64, usize, usize) {
        let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                let v = f64::from(canvas[y * IMAGE_SIDE + x]);
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
    }

    #[test]
    fn images_too_small_for_a_digit_are_refused_by_size() {
        for (width, height) in [(0, 0), (1, 1), (4, 40), (40, 4)] {
            let img = DynamicImage::ImageLuma8(GrayImage::from_pixel(width, height, Luma([0])));
            assert_eq!(
                preprocess(&img),
                Err(PreprocessError::TooSmall { width, height })
            );
        }
        let message = PreprocessError::TooSmall {
            width: 1,
            height: 1,
        }
        .to_string();
        assert!(message.contains("1 x 1 pixels"), "{message}");
    }

    #[test]
    fn sixteen_bit_images_are_read_at_full_depth() {
        let grey = stroke_on_paper(160, 160);
        let deep = image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(160, 160, |x, y| {
            Luma([u16::from(grey.get_pixel(x, y)[0]) * 257])
        });
        let a = preprocess(&DynamicImage::ImageLuma16(deep)).unwrap();
        let b = preprocess(&DynamicImage::ImageLuma8(grey)).unwrap();
        assert_eq!(a, b);
        let blank = image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_pixel(64, 64, Luma([40_000]));
        assert_eq!(
            preprocess(&DynamicImage::ImageLuma16(blank)),
            Err(PreprocessError::NoInk)
        );
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
        let mut canvas = [0u8; IMAGE_PIXELS];
        for y in 4..24 {
            let rim = if y >= 14 { 120 } else { 90 };
            for (x, v) in [(12, 90), (13, 255), (14, 255), (15, rim)] {
                canvas[y * IMAGE_SIDE + x] = v;
            }
        }
        let img = GrayImage::from_raw(28, 28, canvas.to_vec()).unwrap();
        let out = preprocess(&DynamicImage::ImageLuma8(img)).unwrap();
        assert_eq!(out, canvas);
    }

    /// A 280x280 drawing of a ring whose stroke is `stroke` px wide.
    fn drawn_ring(stroke: f32) -> DynamicImage {
        DynamicImage::ImageLuma8(GrayImage::from_fn(280, 280, |x, y| {
            let (dx, dy) = (x as f32 - 140.0, y as f32 - 140.0);
            let ring = ((dx * dx + dy * dy).sqrt() - 90.0).abs() < stroke / 2.0;
            Luma([if ring { 0 } else { 255 }])
        }))
    }

    #[test]
    fn a_large_drawing_with_thick_strokes_is_read_from_the_coarse_look() {
        let thick = drawn_ring(20.0);
        let coarse = digit_at(&thick, COARSE_SIDE).unwrap();
        assert!(coarse.stroke_width >= MIN_COARSE_STROKE && coarse.longer_side >= MIN_COARSE_BOX);
        let canvas = preprocess(&thick).unwrap();
        assert_eq!(canvas, centre_by_mass(&coarse.digit));
        // And it is what the full-resolution look sees, up to the edges of
        // the averaging blocks: the same box and ink, and the centre of mass
        // within the whole-pixel shift of centring (this ring's is a half).
        let full = centre_by_mass(&digit_at(&thick, MAX_WORKING_SIDE).unwrap().digit);
        let (cx, cy, w, h) = moments(&canvas);
        let (fx, fy, fw, fh) = moments(&full);
        assert_eq!((w, h), (fw, fh));
        assert!(
            (cx - fx).abs() <= 1.0 && (cy - fy).abs() <= 1.0,
            "{cx},{cy} vs {fx},{fy}"
        );
        let ink = |c: &[u8; IMAGE_PIXELS]| c.iter().map(|&v| f64::from(v)).sum::<f64>();
        let (a, b) = (ink(&canvas), ink(&full));
        assert!((a - b).abs() < 0.05 * b, "ink {a} vs {b}");
    }

    #[test]
    fn thin_strokes_and_small_digits_are_looked_at_again_in_full() {
        // 6 px strokes are 2 px after 3x3 averaging: too thin to trust.
        let thin = drawn_ring(6.0);
        assert!(digit_at(&thin, COARSE_SIDE).unwrap().stroke_width < MIN_COARSE_STROKE);
        let full = centre_by_mass(&digit_at(&thin, MAX_WORKING_SIDE).unwrap().digit);
        assert_eq!(preprocess(&thin).unwrap(), full);
        // A digit 90 px tall in a 280 px drawing is 30 px after averaging.
        let small = DynamicImage::ImageLuma8(GrayImage::from_fn(280, 280, |x, y| {
            let stroke = (100..125).contains(&x) && (20..110).contains(&y);
            Luma([if stroke { 0 } else { 255 }])
        }));
        assert!(digit_at(&small, COARSE_SIDE).unwrap().longer_side < MIN_COARSE_BOX);
        let full = centre_by_mass(&digit_at(&small, MAX_WORKING_SIDE).unwrap().digit);
        assert_eq!(preprocess(&small).unwrap(), full);
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
        assert_eq!(canvas[14 * IMAGE_SIDE + 14], 0);
        assert!(canvas.iter().filter(|&&v| v >= 128).count() >= 60);
    }
}
