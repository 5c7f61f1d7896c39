//! The ways people photograph or scan digits, rendered from 28x28 originals
//! of the sample, and a nearest-neighbour reader to check what survives.

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};

use crate::Dataset;

/// A 28x28 digit as a grey image (light ink on black, as in MNIST).
pub fn as_image(digit: &[u8]) -> GrayImage {
    GrayImage::from_raw(28, 28, digit.to_vec()).expect("784 pixels")
}

/// Encodes and decodes through the image crate, as a saved file would be.
pub fn round_trip(img: DynamicImage, format: ImageFormat) -> DynamicImage {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encodes");
    image::load_from_memory(&bytes).expect("decodes")
}

/// Deterministic grain in -amplitude..=amplitude for pixel (x, y) of image `seed`.
fn grain(seed: usize, x: u32, y: u32, amplitude: i32) -> i32 {
    let mut h =
        (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(x) << 32 | u64::from(y));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h % (2 * amplitude as u64 + 1)) as i32 - amplitude
}

/// Ways a person might photograph or scan a digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Dark ink on white paper.
    Inverted,
    /// Enlarged 3x and placed off-centre on a 200x160 black canvas.
    OffCentre,
    /// Enlarged 5x with a smooth filter (a high-resolution scan).
    Scaled5x,
    /// Dark ink on white with a 60 px margin all round.
    WideBorder,
    /// Enlarged 4x, dark ink on grey paper, blurred, grainy, saved as JPEG.
    BlurredJpeg,
    /// Blue ink on yellow paper, enlarged 3x, saved as BMP.
    ColourInk,
    /// Enlarged 4x on paper lit unevenly from one side, grainy, saved as JPEG.
    UnevenLight,
    /// Enlarged 10x, black on opaque white RGBA: what the serve page's
    /// 280x280 canvas uploads.
    Canvas,
}

impl Style {
    pub const ALL: [Style; 8] = [
        Style::Inverted,
        Style::OffCentre,
        Style::Scaled5x,
        Style::WideBorder,
        Style::BlurredJpeg,
        Style::ColourInk,
        Style::UnevenLight,
        Style::Canvas,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Style::Inverted => "(a) inverted, dark on white",
            Style::OffCentre => "(b) off-centre on 200x160",
            Style::Scaled5x => "(c) scaled up 5x",
            Style::WideBorder => "(d) wide border",
            Style::BlurredJpeg => "(e) blurred, grey paper, JPEG",
            Style::ColourInk => "(f) blue ink on yellow, BMP",
            Style::UnevenLight => "(g) uneven light, grain, JPEG",
            Style::Canvas => "(h) 280x280 RGBA drawing",
        }
    }

    /// Renders digit number `index` (which varies placement and grain).
    pub fn render(self, digit: &[u8], index: usize) -> DynamicImage {
        let original = as_image(digit);
        match self {
            Style::Inverted => {
                let mut img = original;
                imageops::invert(&mut img);
                DynamicImage::ImageLuma8(img)
            }
            Style::OffCentre => {
                let big = imageops::resize(&original, 84, 84, FilterType::Triangle);
                let mut canvas = GrayImage::new(200, 160);
                let x = 5 + (index * 37) % 110;
                let y = 5 + (index * 53) % 70;
                imageops::overlay(&mut canvas, &big, x as i64, y as i64);
                DynamicImage::ImageLuma8(canvas)
            }
            Style::Scaled5x => DynamicImage::ImageLuma8(imageops::resize(
                &original,
                140,
                140,
                FilterType::CatmullRom,
            )),
            Style::WideBorder => {
                let mut canvas = GrayImage::from_pixel(148, 148, Luma([255]));
                let mut ink = original;
                imageops::invert(&mut ink);
                imageops::overlay(&mut canvas, &ink, 60, 60);
                DynamicImage::ImageLuma8(canvas)
            }
            Style::BlurredJpeg => {
                let big = imageops::resize(&original, 112, 112, FilterType::Triangle);
                let paper = 170i32;
                let mut canvas = GrayImage::from_pixel(180, 150, Luma([paper as u8]));
                let (ox, oy) = (20 + (index * 13) % 40, 10 + (index * 7) % 25);
                for (x, y, p) in big.enumerate_pixels() {
                    let v = paper - i32::from(p[0]) * 130 / 255;
                    canvas.put_pixel(x + ox as u32, y + oy as u32, Luma([v as u8]));
                }
                let mut blurred = imageops::blur(&canvas, 2.0);
                for (x, y, p) in blurred.enumerate_pixels_mut() {
                    p[0] = (i32::from(p[0]) + grain(index, x, y, 6)).clamp(0, 255) as u8;
                }
                round_trip(DynamicImage::ImageLuma8(blurred), ImageFormat::Jpeg)
            }
            Style::ColourInk => {
                let big = imageops::resize(&original, 84, 84, FilterType::Triangle);
                let (ink, paper) = ([30.0, 40.0, 160.0], [240.0, 220.0, 120.0]);
                let mut canvas = RgbImage::from_pixel(120, 110, Rgb([240, 220, 120]));
                for (x, y, p) in big.enumerate_pixels() {
                    let a = f32::from(p[0]) / 255.0;
                    let c: [u8; 3] =
                        std::array::from_fn(|k| (ink[k] * a + paper[k] * (1.0 - a)).round() as u8);
                    canvas.put_pixel(x + 18, y + 12, Rgb(c));
                }
                round_trip(DynamicImage::ImageRgb8(canvas), ImageFormat::Bmp)
            }
            Style::UnevenLight => {
                let big = imageops::resize(&original, 112, 112, FilterType::Triangle);
                let (w, h) = (170u32, 150u32);
                let (ox, oy) = (15 + (index * 11) % 40, 10 + (index * 17) % 30);
                let canvas = RgbImage::from_fn(w, h, |x, y| {
                    // Paper from 150 (shadowed left) to 235 (lit right), slightly warm.
                    let light = 150.0 + 85.0 * x as f32 / w as f32;
                    let inside = x >= ox as u32
                        && y >= oy as u32
                        && x < ox as u32 + 112
                        && y < oy as u32 + 112;
                    let a = if inside {
                        f32::from(big.get_pixel(x - ox as u32, y - oy as u32)[0]) / 255.0
                    } else {
                        0.0
                    };
                    let v = light * (1.0 - 0.75 * a) + grain(index, x, y, 8) as f32;
                    Rgb([
                        v.clamp(0.0, 255.0) as u8,
                        (v * 0.97).clamp(0.0, 255.0) as u8,
                        (v * 0.9).clamp(0.0, 255.0) as u8,
                    ])
                });
                round_trip(DynamicImage::ImageRgb8(canvas), ImageFormat::Jpeg)
            }
            Style::Canvas => {
                let big = imageops::resize(&original, 280, 280, FilterType::Triangle);
                DynamicImage::ImageRgba8(RgbaImage::from_fn(280, 280, |x, y| {
                    let v = 255 - big.get_pixel(x, y)[0];
                    Rgba([v, v, v, 255])
                }))
            }
        }
    }
}

/// Index of the training digit nearest to `query` (squared Euclidean distance).
pub fn nearest_label(train: &Dataset, query: &[u8]) -> u8 {
    let mut best = (u32::MAX, 0u8);
    for i in 0..train.len() {
        let d: u32 = train
            .image(i)
            .iter()
            .zip(query)
            .map(|(&a, &b)| {
                let d = i32::from(a) - i32::from(b);
                (d * d) as u32
            })
            .sum();
        if d < best.0 {
            best = (d, train.labels[i]);
        }
    }
    best.1
}
