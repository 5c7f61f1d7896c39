//! The image the rest of preprocessing works on: RGB floats composited over
//! white paper, block-averaged down when large, read straight from the
//! decoded buffer so a large image is never copied whole.

use image::{DynamicImage, ImageBuffer, Rgb};

/// Larger images are block-averaged down to this longer side first: a
/// 12-megapixel photo holds far more detail than a 20 px digit needs.
pub(super) const MAX_WORKING_SIDE: usize = 1024;

/// RGB in 0..=255, transparent pixels composited over white.
pub(super) struct WorkingImage {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) rgb: Vec<[f32; 3]>,
}

/// `img` as a [`WorkingImage`] whose longer side is at most
/// [`MAX_WORKING_SIDE`] (averaging `factor` x `factor` blocks when larger).
pub(super) fn working_image(img: &DynamicImage) -> WorkingImage {
    /// 8-bit channels to 0..=255.
    fn u8s(c: &u8) -> f32 {
        f32::from(*c)
    }
    /// 16-bit channels to 0..=255.
    fn u16s(c: &u16) -> f32 {
        f32::from(*c) / 257.0
    }
    /// Float channels (0..=1) to 0..=255.
    fn f32s(c: &f32) -> f32 {
        c.clamp(0.0, 1.0) * 255.0
    }
    let (width, height) = (img.width() as usize, img.height() as usize);
    match img {
        DynamicImage::ImageLuma8(b) => reduce(b, width, height, 1, |p| grey(u8s(&p[0]))),
        DynamicImage::ImageLumaA8(b) => reduce(b, width, height, 2, |p| {
            over_white([u8s(&p[0]); 3], u8s(&p[1]))
        }),
        DynamicImage::ImageRgb8(b) => {
            reduce(b, width, height, 3, |p| [0, 1, 2].map(|k| u8s(&p[k])))
        }
        DynamicImage::ImageRgba8(b) => reduce(b, width, height, 4, |p| {
            over_white([0, 1, 2].map(|k| u8s(&p[k])), u8s(&p[3]))
        }),
        DynamicImage::ImageLuma16(b) => reduce(b, width, height, 1, |p| grey(u16s(&p[0]))),
        DynamicImage::ImageLumaA16(b) => reduce(b, width, height, 2, |p| {
            over_white([u16s(&p[0]); 3], u16s(&p[1]))
        }),
        DynamicImage::ImageRgb16(b) => {
            reduce(b, width, height, 3, |p| [0, 1, 2].map(|k| u16s(&p[k])))
        }
        DynamicImage::ImageRgba16(b) => reduce(b, width, height, 4, |p| {
            over_white([0, 1, 2].map(|k| u16s(&p[k])), u16s(&p[3]))
        }),
        DynamicImage::ImageRgb32F(b) => {
            reduce(b, width, height, 3, |p| [0, 1, 2].map(|k| f32s(&p[k])))
        }
        DynamicImage::ImageRgba32F(b) => reduce(b, width, height, 4, |p| {
            over_white([0, 1, 2].map(|k| f32s(&p[k])), f32s(&p[3]))
        }),
        // Layouts added to the image crate later: through 8-bit RGBA.
        other => working_image(&DynamicImage::ImageRgba8(other.to_rgba8())),
    }
}

/// Shrinks a decoded image the way [`working_image`] would, as soon as it is
/// decoded, so the full-size buffer can be freed before anything else (EXIF
/// rotation included) copies it; images within [`MAX_WORKING_SIDE`] are
/// returned as they are.
pub(crate) fn shrink_for_work(img: DynamicImage) -> DynamicImage {
    if (img.width().max(img.height()) as usize) <= MAX_WORKING_SIDE {
        return img;
    }
    let small = working_image(&img);
    drop(img);
    let values = small.rgb.iter().flatten().map(|v| v / 255.0).collect();
    let buffer = ImageBuffer::<Rgb<f32>, Vec<f32>>::from_raw(
        small.width as u32,
        small.height as u32,
        values,
    )
    .expect("one RGB triple per pixel");
    DynamicImage::ImageRgb32F(buffer)
}

fn grey(v: f32) -> [f32; 3] {
    [v; 3]
}

/// Drawings saved with a transparent background: composite over white paper.
fn over_white(rgb: [f32; 3], alpha: f32) -> [f32; 3] {
    let alpha = alpha / 255.0;
    rgb.map(|c| c * alpha + 255.0 * (1.0 - alpha))
}

/// Converts every pixel of a `channels`-interleaved buffer with `to_rgb`,
/// averaging `factor` x `factor` blocks so the longer side is at most
/// [`MAX_WORKING_SIDE`].
fn reduce<S>(
    raw: &[S],
    width: usize,
    height: usize,
    channels: usize,
    to_rgb: impl Fn(&[S]) -> [f32; 3],
) -> WorkingImage {
    // A buffer may be longer than its image; the rest is not pixels.
    let raw = &raw[..width * height * channels];
    let factor = width.max(height).div_ceil(MAX_WORKING_SIDE).max(1);
    let pixels = raw.chunks_exact(channels);
    if factor == 1 {
        return WorkingImage {
            width,
            height,
            rgb: pixels.map(to_rgb).collect(),
        };
    }
    let (small_width, small_height) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut sums = vec![[0.0f32; 3]; small_width * small_height];
    for (y, row) in raw.chunks_exact(width * channels).enumerate() {
        let sums_row = &mut sums[(y / factor) * small_width..][..small_width];
        for (x, pixel) in row.chunks_exact(channels).enumerate() {
            let c = to_rgb(pixel);
            let sum = &mut sums_row[x / factor];
            for k in 0..3 {
                sum[k] += c[k];
            }
        }
    }
    // Blocks along the right and bottom edges may be cut short.
    let block = |index: usize, side: usize| (side - index * factor).min(factor) as f32;
    let rgb = sums
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let count = block(j % small_width, width) * block(j / small_width, height);
            s.map(|v| v / count)
        })
        .collect();
    WorkingImage {
        width: small_width,
        height: small_height,
        rgb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, RgbaImage};

    #[test]
    fn small_images_are_converted_pixel_for_pixel() {
        let img = RgbaImage::from_fn(3, 2, |x, y| image::Rgba([x as u8 * 100, y as u8, 7, 255]));
        let w = working_image(&DynamicImage::ImageRgba8(img));
        assert_eq!((w.width, w.height), (3, 2));
        assert_eq!(w.rgb[2], [200.0, 0.0, 7.0]);
        assert_eq!(w.rgb[3], [0.0, 1.0, 7.0]);
        let clear = RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 0]));
        let w = working_image(&DynamicImage::ImageRgba8(clear));
        assert!(
            w.rgb.iter().all(|&c| c == [255.0; 3]),
            "transparent is paper"
        );
    }

    #[test]
    fn large_images_are_block_averaged_with_short_edge_blocks() {
        // 2050 wide: factor 3, so 684 columns, the last block one column wide.
        let img = GrayImage::from_fn(2050, 4, |x, _| Luma([if x % 3 == 0 { 90 } else { 0 }]));
        let w = working_image(&DynamicImage::ImageLuma8(img));
        assert_eq!((w.width, w.height), (684, 2));
        assert_eq!(w.rgb[0], [30.0; 3]);
        // Column 2049 alone (2049 % 3 == 0).
        assert_eq!(w.rgb[683], [90.0; 3]);
        assert_eq!(w.rgb[684 + 683], [90.0; 3]);
    }

    #[test]
    fn shrinking_early_matches_shrinking_inside_preprocessing() {
        let img = DynamicImage::ImageLuma8(GrayImage::from_fn(3000, 1200, |x, y| {
            Luma([((x * 7 + y * 13) % 256) as u8])
        }));
        let direct = working_image(&img);
        let early = working_image(&shrink_for_work(img));
        assert_eq!((early.width, early.height), (direct.width, direct.height));
        for (a, b) in early.rgb.iter().zip(&direct.rgb) {
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() < 1e-3, "{a:?} vs {b:?}");
            }
        }
        let small = DynamicImage::ImageLuma8(GrayImage::new(40, 30));
        assert!(matches!(
            shrink_for_work(small),
            DynamicImage::ImageLuma8(_)
        ));
    }
}
