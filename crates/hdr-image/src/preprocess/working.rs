//! The image the rest of preprocessing works on: RGB floats composited over
//! white paper, block-averaged down when large, read straight from the
//! decoded buffer so a large image is never copied whole.

use image::{DynamicImage, ImageBuffer, Rgb};

/// Larger images are block-averaged down to this longer side first: a
/// 12-megapixel photo holds far more detail than a 20 px digit needs.
pub(super) const MAX_WORKING_SIDE: usize = 1024;

/// The pixels in 0..=255, transparent ones composited over white.
pub(super) struct WorkingImage {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) pixels: Pixels,
}

/// A working image's pixels, row-major.
pub(super) enum Pixels {
    /// Every pixel is grey (R = G = B): one level each, and no colour ink to
    /// look for (most scans and drawings, the serve page's canvas included).
    Grey(Vec<f32>),
    /// Some pixel has colour.
    Rgb(Vec<[f32; 3]>),
}

impl Pixels {
    /// Grey when every pixel is, so later steps can skip the colour channels;
    /// builds the grey levels directly until a colour pixel shows up.
    fn collect(mut rgb: impl Iterator<Item = [f32; 3]>, len: usize) -> Self {
        let mut grey = Vec::with_capacity(len);
        while let Some(c) = rgb.next() {
            if c[0] == c[1] && c[1] == c[2] {
                grey.push(c[0]);
                continue;
            }
            let mut colour = Vec::with_capacity(len);
            colour.extend(grey.iter().map(|&v| [v; 3]));
            colour.push(c);
            colour.extend(rgb);
            return Pixels::Rgb(colour);
        }
        Pixels::Grey(grey)
    }

    /// Each pixel's RGB.
    fn to_rgb(&self) -> Vec<[f32; 3]> {
        match self {
            Pixels::Grey(levels) => levels.iter().map(|&v| [v; 3]).collect(),
            Pixels::Rgb(rgb) => rgb.clone(),
        }
    }
}

/// `img` as a [`WorkingImage`] whose longer side is at most `max_side`
/// (averaging `factor` x `factor` blocks when larger).
pub(super) fn working_image(img: &DynamicImage, max_side: usize) -> WorkingImage {
    /// 16-bit channels to 0..=255.
    fn u16s(c: &u16) -> f32 {
        f32::from(*c) / 257.0
    }
    /// Float channels (0..=1) to 0..=255.
    fn f32s(c: &f32) -> f32 {
        c.clamp(0.0, 1.0) * 255.0
    }
    let (width, height) = (img.width() as usize, img.height() as usize);
    let size = (width, height, max_side);
    match img {
        // Grey layouts stay grey (over white paper too): one channel to average.
        // 8-bit layouts, the common ones, are summed in exact integers.
        DynamicImage::ImageLuma8(b) => grey(reduce_bytes::<1, 1>(b, size, |p| [opaque(p[0])])),
        DynamicImage::ImageLumaA8(b) => grey(reduce_bytes::<2, 1>(b, size, |p| {
            [over_white_u8(p[0], p[1])]
        })),
        DynamicImage::ImageLuma16(b) => grey(reduce::<_, 1, 1>(b, size, |p| [u16s(&p[0])])),
        DynamicImage::ImageLumaA16(b) => grey(reduce::<_, 2, 1>(b, size, |p| {
            [over_white(u16s(&p[0]), u16s(&p[1]))]
        })),
        DynamicImage::ImageRgb8(b) => colour(reduce_bytes::<3, 3>(b, size, |p| {
            [0, 1, 2].map(|k| opaque(p[k]))
        })),
        DynamicImage::ImageRgba8(b) => colour(reduce_bytes::<4, 3>(b, size, |p| {
            [0, 1, 2].map(|k| over_white_u8(p[k], p[3]))
        })),
        DynamicImage::ImageRgb16(b) => colour(reduce::<_, 3, 3>(b, size, |p| {
            [0, 1, 2].map(|k| u16s(&p[k]))
        })),
        DynamicImage::ImageRgba16(b) => colour(reduce::<_, 4, 3>(b, size, |p| {
            [0, 1, 2].map(|k| over_white(u16s(&p[k]), u16s(&p[3])))
        })),
        DynamicImage::ImageRgb32F(b) => colour(reduce::<_, 3, 3>(b, size, |p| {
            [0, 1, 2].map(|k| f32s(&p[k]))
        })),
        DynamicImage::ImageRgba32F(b) => colour(reduce::<_, 4, 3>(b, size, |p| {
            [0, 1, 2].map(|k| over_white(f32s(&p[k]), f32s(&p[3])))
        })),
        // Layouts added to the image crate later: through 8-bit RGBA.
        other => working_image(&DynamicImage::ImageRgba8(other.to_rgba8()), max_side),
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
    let small = working_image(&img, MAX_WORKING_SIDE);
    drop(img);
    let values = small
        .pixels
        .to_rgb()
        .iter()
        .flatten()
        .map(|v| v / 255.0)
        .collect();
    let buffer = ImageBuffer::<Rgb<f32>, Vec<f32>>::from_raw(
        small.width as u32,
        small.height as u32,
        values,
    )
    .expect("one RGB triple per pixel");
    DynamicImage::ImageRgb32F(buffer)
}

/// Drawings saved with a transparent background: one channel composited
/// over white paper.
fn over_white(value: f32, alpha: f32) -> f32 {
    // Opaque pixels, nearly all of most images, skip the division.
    if alpha >= 255.0 {
        return value;
    }
    let alpha = alpha / 255.0;
    value * alpha + 255.0 * (1.0 - alpha)
}

/// The working image of a grey layout, from [`reduce`]'s result.
fn grey((width, height, levels): (usize, usize, Vec<[f32; 1]>)) -> WorkingImage {
    WorkingImage {
        width,
        height,
        pixels: Pixels::Grey(levels.into_iter().map(|[v]| v).collect()),
    }
}

/// The working image of a colour layout, from [`reduce`]'s result: still
/// grey when every pixel is.
fn colour((width, height, pixels): (usize, usize, Vec<[f32; 3]>)) -> WorkingImage {
    let len = pixels.len();
    WorkingImage {
        width,
        height,
        pixels: Pixels::collect(pixels.into_iter(), len),
    }
}

/// An opaque 8-bit channel in 255ths of a grey level (see [`reduce_bytes`]).
fn opaque(value: u8) -> u32 {
    u32::from(value) * 255
}

/// An 8-bit channel composited over white paper, in 255ths of a grey level:
/// exact, where floats would round.
fn over_white_u8(value: u8, alpha: u8) -> u32 {
    u32::from(value) * u32::from(alpha) + 255 * (255 - u32::from(alpha))
}

/// [`reduce`] for 8-bit layouts: `convert` gives each channel in 255ths of
/// a grey level, so blocks are summed exactly in integers (several times
/// faster than floats) and divided once.
fn reduce_bytes<const C: usize, const N: usize>(
    raw: &[u8],
    (width, height, max_side): (usize, usize, usize),
    convert: impl Fn(&[u8; C]) -> [u32; N],
) -> (usize, usize, Vec<[f32; N]>) {
    let (pixels, _) = raw[..width * height * C].as_chunks::<C>();
    let factor = block_factor(width, height, max_side);
    if factor == 1 {
        let level = |v: u32| v as f32 / 255.0;
        return (
            width,
            height,
            pixels.iter().map(|p| convert(p).map(level)).collect(),
        );
    }
    let (small_width, small_height) = (width.div_ceil(factor), height.div_ceil(factor));
    // A block's sum fits 32 bits (twice as many lanes as 64): it holds at
    // most factor² channels of at most 255·255, and sides up to
    // MAX_IMAGE_SIDE worked at COARSE_SIDE or more keep the factor under 80.
    debug_assert!(factor * factor * 255 * 255 <= u32::MAX as usize);
    let mut out = Vec::with_capacity(small_width * small_height);
    let mut column_sums = vec![[0u32; N]; width];
    let mut block_sums = vec![[0u32; N]; small_width];
    for band in pixels.chunks(width * factor) {
        column_sums.fill([0; N]);
        for row in band.chunks_exact(width) {
            for (sum, pixel) in column_sums.iter_mut().zip(row) {
                let c = convert(pixel);
                for k in 0..N {
                    sum[k] += c[k];
                }
            }
        }
        block_sums.fill([0; N]);
        for (columns, sum) in column_sums.chunks(factor).zip(block_sums.iter_mut()) {
            for column in columns {
                for k in 0..N {
                    sum[k] += column[k];
                }
            }
        }
        let rows = band.len() / width;
        for (x, sum) in block_sums.iter().enumerate() {
            let count = ((width - x * factor).min(factor) * rows * 255) as f64;
            let scale = count.recip();
            out.push(sum.map(|v| (f64::from(v) * scale) as f32));
        }
    }
    (small_width, small_height, out)
}

/// How many pixels a side of a block averages so that the longer side of a
/// `width` x `height` image comes out at most `max_side`.
pub(super) fn block_factor(width: usize, height: usize, max_side: usize) -> usize {
    width.max(height).div_ceil(max_side.max(1)).max(1)
}

/// Converts every pixel (`C` interleaved channels) of a buffer with
/// `convert`, averaging `factor` x `factor` blocks so the longer side is at
/// most `max_side`: the working width, height and pixels.
fn reduce<S, const C: usize, const N: usize>(
    raw: &[S],
    (width, height, max_side): (usize, usize, usize),
    convert: impl Fn(&[S; C]) -> [f32; N],
) -> (usize, usize, Vec<[f32; N]>) {
    // A buffer may be longer than its image; the rest is not pixels.
    let (pixels, _) = raw[..width * height * C].as_chunks::<C>();
    let factor = block_factor(width, height, max_side);
    if factor == 1 {
        return (width, height, pixels.iter().map(convert).collect());
    }
    let (small_width, small_height) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut sums = vec![[0.0f32; N]; small_width * small_height];
    // Each band of `factor` rows is summed down its columns first (one pass
    // in memory order), then across each block's columns.
    let mut column_sums = vec![[0.0f32; N]; width];
    for (band, sums_row) in pixels
        .chunks(width * factor)
        .zip(sums.chunks_exact_mut(small_width))
    {
        column_sums.fill([0.0; N]);
        for row in band.chunks_exact(width) {
            for (sum, pixel) in column_sums.iter_mut().zip(row) {
                let c = convert(pixel);
                for k in 0..N {
                    sum[k] += c[k];
                }
            }
        }
        for (columns, sum) in column_sums.chunks(factor).zip(sums_row.iter_mut()) {
            for column in columns {
                for k in 0..N {
                    sum[k] += column[k];
                }
            }
        }
    }
    // Blocks along the right and bottom edges may be cut short.
    let block = |index: usize, side: usize| (side - index * factor).min(factor) as f32;
    for (j, sum) in sums.iter_mut().enumerate() {
        let count = block(j % small_width, width) * block(j / small_width, height);
        sum.iter_mut().for_each(|v| *v /= count);
    }
    (small_width, small_height, sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, RgbaImage};

    #[test]
    fn small_images_are_converted_pixel_for_pixel() {
        let img = RgbaImage::from_fn(3, 2, |x, y| image::Rgba([x as u8 * 100, y as u8, 7, 255]));
        let w = working_image(&DynamicImage::ImageRgba8(img), MAX_WORKING_SIDE);
        assert_eq!((w.width, w.height), (3, 2));
        let Pixels::Rgb(rgb) = &w.pixels else {
            panic!("colour pixels are kept in colour")
        };
        assert_eq!(rgb[2], [200.0, 0.0, 7.0]);
        assert_eq!(rgb[3], [0.0, 1.0, 7.0]);
        let clear = RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 0]));
        let w = working_image(&DynamicImage::ImageRgba8(clear), MAX_WORKING_SIDE);
        assert!(
            matches!(&w.pixels, Pixels::Grey(levels) if levels.iter().all(|&v| v == 255.0)),
            "transparent is white paper"
        );
    }

    #[test]
    fn large_images_are_block_averaged_with_short_edge_blocks() {
        // 2050 wide: factor 3, so 684 columns, the last block one column wide.
        let img = GrayImage::from_fn(2050, 4, |x, _| Luma([if x % 3 == 0 { 90 } else { 0 }]));
        let w = working_image(&DynamicImage::ImageLuma8(img), MAX_WORKING_SIDE);
        assert_eq!((w.width, w.height), (684, 2));
        let Pixels::Grey(levels) = &w.pixels else {
            panic!("a grey image stays grey")
        };
        assert_eq!(levels[0], 30.0);
        // Column 2049 alone (2049 % 3 == 0).
        assert_eq!(levels[683], 90.0);
        assert_eq!(levels[684 + 683], 90.0);
    }

    #[test]
    fn integer_and_float_block_sums_agree() {
        // The same picture as 8-bit (summed in integers) and 16-bit (in
        // floats), with a transparent corner, at several block factors.
        let level = |x: u32, y: u32| ((x * 37 + y * 11) % 256) as u8;
        let alpha = |x: u32, y: u32| if x < 40 && y < 30 { (x * 6) as u8 } else { 255 };
        let eight = image::GrayAlphaImage::from_fn(300, 200, |x, y| {
            image::LumaA([level(x, y), alpha(x, y)])
        });
        let sixteen =
            image::ImageBuffer::<image::LumaA<u16>, Vec<u16>>::from_fn(300, 200, |x, y| {
                image::LumaA([u16::from(level(x, y)) * 257, u16::from(alpha(x, y)) * 257])
            });
        for max_side in [300, 128, 100, 64] {
            let a = working_image(&DynamicImage::ImageLumaA8(eight.clone()), max_side);
            let b = working_image(&DynamicImage::ImageLumaA16(sixteen.clone()), max_side);
            assert_eq!((a.width, a.height), (b.width, b.height));
            let (Pixels::Grey(a), Pixels::Grey(b)) = (&a.pixels, &b.pixels) else {
                panic!("grey layouts stay grey")
            };
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-3, "{max_side}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn shrinking_early_matches_shrinking_inside_preprocessing() {
        let img = DynamicImage::ImageLuma8(GrayImage::from_fn(3000, 1200, |x, y| {
            Luma([((x * 7 + y * 13) % 256) as u8])
        }));
        let direct = working_image(&img, MAX_WORKING_SIDE);
        let early = working_image(&shrink_for_work(img), MAX_WORKING_SIDE);
        assert_eq!((early.width, early.height), (direct.width, direct.height));
        for (a, b) in early.pixels.to_rgb().iter().zip(&direct.pixels.to_rgb()) {
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
