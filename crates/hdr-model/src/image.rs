//! The input and output sizes every network shares.

/// Side of a square input image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per input image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of output classes.
pub const NUM_CLASSES: usize = 10;
