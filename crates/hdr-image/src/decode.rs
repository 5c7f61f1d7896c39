//! Reading image files within bounds: the header's declared size is checked
//! before any pixel is decoded, the decoder runs under limits, and large
//! images are shrunk right after decoding.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::preprocess::shrink_for_work;
use crate::ImageError;

/// The widest and tallest image accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 10_000;
/// The most memory an image may take decoded (width x height x bytes per
/// pixel), and the largest file read.
pub const MAX_DECODED_BYTES: u64 = 250_000_000;

/// Limits for the decoder itself once the declared size has passed: the
/// decoder refuses to go beyond them even if the header lied.
fn decoding_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits
}

/// Limits for reading the header: no dimension limit yet, so that an
/// oversized image can be refused with its declared size in the message.
fn header_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits
}

/// Reads and decodes a PNG, JPEG or BMP file (format from its contents, not
/// its name), turned upright when a photo's EXIF orientation says so.
///
/// Images over [`MAX_IMAGE_SIDE`] pixels on a side or [`MAX_DECODED_BYTES`]
/// decoded are refused from their header, before any pixel is decoded.
/// Images whose longer side exceeds 1024 pixels come back shrunk to it
/// (averaging blocks of pixels, as an RGB float image), which is all
/// preprocessing would use of them.
pub fn load_image(path: &Path) -> Result<DynamicImage, ImageError> {
    let unreadable = |source| ImageError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if metadata.is_dir() {
        return Err(ImageError::Directory {
            path: path.to_path_buf(),
        });
    }
    check_length(metadata.len(), path)?;
    let bytes = std::fs::read(path).map_err(unreadable)?;
    decode_bytes(&bytes, path)
}

/// Decodes a PNG, JPEG or BMP image held in memory (an upload, say) exactly
/// as [`load_image`] decodes a file: the same header check, decoder limits,
/// orientation and early shrink. `name` is what errors call the bytes (the
/// upload's file name, for one).
pub fn decode_bytes(bytes: &[u8], name: &Path) -> Result<DynamicImage, ImageError> {
    check_length(bytes.len() as u64, name)?;
    let file = || name.to_path_buf();
    let decode_error = |e: image::ImageError| ImageError::Decode {
        path: file(),
        detail: match &e {
            image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                format!("the file is truncated ({e})")
            }
            _ => e.to_string(),
        },
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageError::Unreadable {
            path: file(),
            source,
        })?;
    let format = reader.format();
    if !matches!(
        format,
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp)
    ) {
        return Err(ImageError::NotAnImage {
            path: file(),
            detail: not_an_image(format, bytes),
        });
    }
    reader.limits(header_limits());
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    let decoded_bytes = decoder.total_bytes();
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || decoded_bytes > MAX_DECODED_BYTES {
        return Err(ImageError::TooLarge {
            path: file(),
            width,
            height,
            decoded_bytes,
        });
    }
    if format == Some(ImageFormat::Jpeg) && !jpeg_has_end(bytes) {
        // The JPEG decoder fills a cut-off image with grey instead of failing.
        return Err(ImageError::Decode {
            path: file(),
            detail: "the JPEG data ends before its end-of-image marker: the file is truncated"
                .to_string(),
        });
    }
    decoder
        .set_limits(decoding_limits())
        .map_err(decode_error)?;
    // A phone photo held sideways is stored sideways with an EXIF note.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    let mut img = shrink_for_work(img);
    img.apply_orientation(orientation);
    Ok(img)
}

/// What an image's header declares, read without decoding any pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes the image would take decoded (width x height x bytes per pixel).
    pub decoded_bytes: u64,
}

impl DeclaredSize {
    /// Width x height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// The size a PNG, JPEG or BMP image held in memory declares in its header,
/// read as [`decode_bytes`] reads it (same format detection and header
/// limits) but without decoding; `None` for bytes whose header cannot be
/// read (decoding them fails early too). Lets a server weigh a batch of
/// uploads before decoding any.
pub fn declared_size(bytes: &[u8]) -> Option<DeclaredSize> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp)
    ) {
        return None;
    }
    reader.limits(header_limits());
    let decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    Some(DeclaredSize {
        width,
        height,
        decoded_bytes: decoder.total_bytes(),
    })
}

/// Refuses empty input and input larger than [`MAX_DECODED_BYTES`] before
/// anything is read or decoded.
fn check_length(len: u64, name: &Path) -> Result<(), ImageError> {
    if len == 0 {
        return Err(ImageError::EmptyFile {
            path: name.to_path_buf(),
        });
    }
    if len > MAX_DECODED_BYTES {
        return Err(ImageError::FileTooLarge {
            path: name.to_path_buf(),
            bytes: len,
        });
    }
    Ok(())
}

/// Why a file that is not a PNG, JPEG or BMP is refused.
fn not_an_image(format: Option<ImageFormat>, bytes: &[u8]) -> String {
    match format {
        Some(other) => format!("{other:?} images are not supported; use PNG, JPEG or BMP"),
        None if looks_like_text(bytes) => {
            "the file holds text, not a PNG, JPEG or BMP image".to_string()
        }
        None => "the contents are not PNG, JPEG or BMP".to_string(),
    }
}

/// Whether the file starts with printable UTF-8 text.
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // The cut may fall inside a character.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || c.is_ascii_whitespace())
}

/// Whether a JPEG's scan data is followed by the end-of-image marker:
/// segments are skipped by their lengths up to the first start of scan, and
/// an `FF D9` must come after it (inside scan data an `FF` byte is always
/// followed by `00` or a restart marker, so it cannot appear by chance).
fn jpeg_has_end(bytes: &[u8]) -> bool {
    const START_OF_SCAN: u8 = 0xDA;
    const END_OF_IMAGE: u8 = 0xD9;
    let mut i = 2; // after SOI
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            // Fill byte before a marker.
            i += 1;
            continue;
        }
        if marker == START_OF_SCAN {
            return bytes[i + 2..].windows(2).any(|w| w == [0xFF, END_OF_IMAGE]);
        }
        let length = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        i += 2 + length;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_told_apart_from_binary() {
        assert!(looks_like_text(b"remember to buy milk\n"));
        assert!(looks_like_text("caf\u{e9}\r\n".as_bytes()));
        assert!(!looks_like_text(b"\x00\x01\x02binary"));
        assert!(!looks_like_text(b""));
        // A multi-byte character cut at 512 bytes is still text.
        let mut long = "a".repeat(511).into_bytes();
        long.extend("\u{e9}".as_bytes());
        assert!(looks_like_text(&long));
    }

    #[test]
    fn jpeg_end_marker_is_found_after_the_scan_only() {
        let mut img = image::RgbImage::new(16, 16);
        img.put_pixel(3, 3, image::Rgb([255, 0, 0]));
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        assert!(jpeg_has_end(&jpeg));
        assert!(!jpeg_has_end(&jpeg[..jpeg.len() - 2]));
        assert!(!jpeg_has_end(&jpeg[..jpeg.len() / 2]));
        assert!(!jpeg_has_end(&jpeg[..3]));
        // An end marker inside a segment before the scan (an EXIF thumbnail)
        // does not count.
        let mut with_thumbnail = jpeg[..2].to_vec();
        with_thumbnail.extend([0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9]);
        let cut = jpeg.len() - 2;
        with_thumbnail.extend(&jpeg[2..cut]);
        assert!(!jpeg_has_end(&with_thumbnail));
    }

    #[test]
    fn empty_and_non_image_files_get_their_own_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"this is not a picture of a digit\n").unwrap();
        let truncated = dir.path().join("cut.png");
        std::fs::write(&truncated, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        let missing = dir.path().join("missing.png");

        assert!(matches!(
            load_image(&empty),
            Err(ImageError::EmptyFile { .. })
        ));
        let err = load_image(&text).unwrap_err();
        assert!(matches!(err, ImageError::NotAnImage { .. }), "{err}");
        assert!(
            err.to_string().starts_with(&text.display().to_string()),
            "{err}"
        );
        assert!(matches!(
            load_image(&truncated),
            Err(ImageError::Decode { .. })
        ));
        assert!(matches!(
            load_image(&missing),
            Err(ImageError::Unreadable { .. })
        ));
        assert!(matches!(
            load_image(dir.path()),
            Err(ImageError::Directory { .. })
        ));
    }

    #[test]
    fn images_decode_whatever_their_extension() {
        let dir = tempfile::tempdir().unwrap();
        let img =
            image::GrayImage::from_fn(40, 30, |x, _| image::Luma([if x > 20 { 0 } else { 255 }]));
        let named_jpg = dir.path().join("actually-a-bmp.jpg");
        img.save_with_format(&named_jpg, ImageFormat::Bmp).unwrap();
        let loaded = load_image(&named_jpg).unwrap();
        assert_eq!((loaded.width(), loaded.height()), (40, 30));
    }

    /// A grey 8-bit PNG header declaring `width` x `height`, with one
    /// compressed row of data: a few dozen bytes.
    fn png_declaring(width: u32, height: u32) -> Vec<u8> {
        hdr_testkit::png_declaring(width, height, &[vec![0; width as usize]])
    }

    #[test]
    fn bytes_in_memory_declaring_a_huge_image_are_refused_from_the_header() {
        let huge = png_declaring(50_000, 40_000);
        assert!(huge.len() < 1_000);
        let started = std::time::Instant::now();
        match decode_bytes(&huge, Path::new("upload.png")) {
            Err(ImageError::TooLarge {
                path,
                width,
                height,
                decoded_bytes,
            }) => {
                assert_eq!(path, Path::new("upload.png"));
                assert_eq!(
                    (width, height, decoded_bytes),
                    (50_000, 40_000, 2_000_000_000)
                );
            }
            other => panic!("{other:?}"),
        }
        // Refused without decoding: far quicker than filling 2 GB would be.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Just over the side limit, small in bytes: still refused.
        assert!(matches!(
            decode_bytes(&png_declaring(MAX_IMAGE_SIDE + 1, 1), Path::new("wide.png")),
            Err(ImageError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_declared_size_is_read_without_decoding() {
        let huge = png_declaring(10_000, 8_000);
        let size = declared_size(&huge).unwrap();
        assert_eq!((size.width, size.height), (10_000, 8_000));
        assert_eq!(size.pixels(), 80_000_000);
        assert_eq!(size.decoded_bytes, 80_000_000);
        assert_eq!(declared_size(b"not an image"), None);
        assert_eq!(declared_size(b""), None);
    }

    #[test]
    fn bytes_and_files_share_one_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let img = image::GrayImage::from_fn(1500, 900, |x, y| {
            image::Luma([if (700..800).contains(&x) && y > 100 {
                10
            } else {
                240
            }])
        });
        let path = dir.path().join("scan.png");
        img.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let from_file = load_image(&path).unwrap();
        let from_bytes = decode_bytes(&bytes, Path::new("scan.png")).unwrap();
        // Both shrunk early to the working size, to the same pixels.
        assert!(from_bytes.width() <= 1024, "{}", from_bytes.width());
        assert_eq!(from_file, from_bytes);

        let name = Path::new("nothing.png");
        assert!(matches!(
            decode_bytes(b"", name),
            Err(ImageError::EmptyFile { .. })
        ));
        let err = decode_bytes(b"plain words\n", name).unwrap_err();
        assert!(matches!(err, ImageError::NotAnImage { .. }), "{err}");
        assert_eq!(
            err.reason(),
            "not an image: the file holds text, not a PNG, JPEG or BMP image"
        );
        assert!(matches!(
            decode_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", name),
            Err(ImageError::Decode { .. })
        ));
    }
}
