//! Files that must be refused, each with what its message must say; shared by
//! hdr-recognize's tests and the `cargo xtask predict` binary tests.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageFormat, Luma};

/// One PNG chunk: length, type, data, CRC of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(kind);
    out.extend(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend(crc.sum().to_be_bytes());
}

/// A grey 8-bit PNG whose header declares `width` x `height` but whose image
/// data holds `rows` (each row's bytes without the filter byte), whatever
/// their number and length.
pub fn png_declaring(width: u32, height: u32, rows: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 0, 0, 0, 0]); // depth 8, grey, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &header);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for row in rows {
        zlib.write_all(&[0]).unwrap();
        zlib.write_all(row).unwrap();
    }
    chunk(&mut out, b"IDAT", &zlib.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A dark bar on light paper, `side` x `side`, as raw grey rows.
pub fn bar_rows(side: usize) -> Vec<Vec<u8>> {
    (0..side)
        .map(|y| {
            (0..side)
                .map(|x| {
                    let bar = (side * 2 / 5..side * 3 / 5).contains(&x)
                        && (side / 5..side * 4 / 5).contains(&y);
                    if bar {
                        20
                    } else {
                        235
                    }
                })
                .collect()
        })
        .collect()
}

/// `img` encoded as `format`.
pub fn encoded(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

/// The bar as a decodable grey image.
pub fn bar_image(side: usize) -> DynamicImage {
    let rows: Vec<u8> = bar_rows(side).concat();
    DynamicImage::ImageLuma8(GrayImage::from_raw(side as u32, side as u32, rows).unwrap())
}

/// A file that must be refused and words its message must contain.
pub struct BadFile {
    /// Where it was written.
    pub path: PathBuf,
    /// Phrases the error message must hold besides the file's name.
    pub says: &'static [&'static str],
}

/// Writes every kind of bad input under `dir`.
pub fn write_bad_files(dir: &Path) -> Vec<BadFile> {
    let mut files = Vec::new();
    let mut add = |name: &str, bytes: &[u8], says: &'static [&'static str]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        files.push(BadFile { path, says });
    };
    // 30,000 x 30,000 declared, a few hundred bytes on disk.
    add(
        "huge.png",
        &png_declaring(30_000, 30_000, &vec![vec![0u8; 30_000]; 4]),
        &["30000 x 30000 pixels", "900 MB decoded", "over the limit"],
    );
    // The header says 64 x 64, the data holds 64 x 8.
    add(
        "header-too-large.png",
        &png_declaring(64, 64, &bar_rows(64)[..8]),
        &["cannot decode the image"],
    );
    // The header says 16 x 16, the data holds a 64 x 64 digit.
    add(
        "header-too-small.png",
        &png_declaring(16, 16, &bar_rows(64)),
        &["cannot decode the image"],
    );
    let png = encoded(bar_image(64), ImageFormat::Png);
    add(
        "truncated.png",
        &png[..png.len() / 2],
        &["cannot decode the image", "truncated"],
    );
    let jpeg = encoded(bar_image(64), ImageFormat::Jpeg);
    add("truncated.jpg", &jpeg[..jpeg.len() * 3 / 5], &["truncated"]);
    add(
        "one-pixel.png",
        &encoded(
            DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([0]))),
            ImageFormat::Png,
        ),
        &["1 x 1 pixels", "too small"],
    );
    let blank16 = image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_pixel(64, 48, Luma([41_000]));
    add(
        "blank-16-bit.png",
        &encoded(DynamicImage::ImageLuma16(blank16), ImageFormat::Png),
        &["no ink found"],
    );
    add(
        "notes.png",
        b"remember to buy milk\n",
        &["holds text", "not a PNG, JPEG or BMP"],
    );
    add("empty.png", b"", &["empty file"]);
    let folder = dir.join("folder.png");
    std::fs::create_dir(&folder).unwrap();
    files.push(BadFile {
        path: folder,
        says: &["is a directory"],
    });
    files
}
