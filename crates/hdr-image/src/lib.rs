//! From a photo or scan of one handwritten digit to the 28x28 image an hdr
//! model reads, with no model: what `hdr-recognize` (predict, serve, the
//! library) and the data stage (folders of labelled images) share, so that
//! an image becomes the same 784 bytes wherever it is read.
//!
//! Images are prepared the way MNIST was made ([`preprocess()`]): grey,
//! inverted when the paper is light, background noise dropped, cropped to the
//! ink, the longer side scaled to 20 px with anti-aliasing, and pasted into
//! 28x28 with the ink's centre of mass at the centre. Large images are first
//! looked at block-averaged, and again in full only when their strokes or
//! their digit came out too small for that to be safe.
//!
//! Files are read within bounds ([`load_image`]; [`decode_bytes`] does the
//! same for images held in memory, such as uploads): an image declaring more
//! than [`MAX_IMAGE_SIDE`] pixels on a side or more than
//! [`MAX_DECODED_BYTES`] decoded is refused from its header before any pixel
//! is decoded, and large images are shrunk as soon as they are decoded.
//! [`prepare_file`] and [`prepare_bytes`] do both steps. Every bad input is
//! an [`ImageError`] naming the file, never a panic.

#![deny(missing_docs)]

mod decode;
mod error;
mod prepare;
pub mod preprocess;

pub use decode::{
    declared_size, decode_bytes, load_image, DeclaredSize, MAX_DECODED_BYTES, MAX_IMAGE_SIDE,
};
pub use error::ImageError;
pub use image;
pub use prepare::{prepare_bytes, prepare_file};
pub use preprocess::{preprocess, PreprocessError};
