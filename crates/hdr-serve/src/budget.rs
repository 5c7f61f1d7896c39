//! What a prediction request costs before any image is decoded: the pixels
//! and decoded bytes its images declare in their headers. A batch declaring
//! more than [`Limits::max_batch_pixels`] is refused (413), and every
//! request holds its declared decoded bytes out of a server-wide
//! [`Limits::max_decoding_bytes`] until answered (503 when it would go over).
//!
//! [`Limits::max_batch_pixels`]: crate::Limits::max_batch_pixels
//! [`Limits::max_decoding_bytes`]: crate::Limits::max_decoding_bytes

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use hdr_recognize::{declared_size, MAX_DECODED_BYTES, MAX_IMAGE_SIDE};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::reply;

/// The unit the decoding budget is counted in, so that it fits a semaphore's
/// `u32` acquisitions.
const UNIT: u64 = 1024;

/// What a request's images declare, counting only those that will be
/// decoded (an image over the per-image limits is refused from its header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Weight {
    /// Width x height, summed.
    pub pixels: u64,
    /// Decoded bytes, summed.
    pub bytes: u64,
}

/// Weighs images from their headers, decoding none.
pub(crate) fn weigh<'a>(images: impl IntoIterator<Item = &'a [u8]>) -> Weight {
    images
        .into_iter()
        .filter_map(declared_size)
        .filter(|size| {
            size.width <= MAX_IMAGE_SIDE
                && size.height <= MAX_IMAGE_SIDE
                && size.decoded_bytes <= MAX_DECODED_BYTES
        })
        .fold(Weight::default(), |sum, size| Weight {
            pixels: sum.pixels.saturating_add(size.pixels()),
            bytes: sum.bytes.saturating_add(size.decoded_bytes),
        })
}

/// The server-wide budget of decoded bytes in flight.
#[derive(Debug)]
pub(crate) struct Decoding {
    units: Arc<Semaphore>,
    total: u64,
}

impl Decoding {
    /// A budget of `bytes`.
    pub(crate) fn new(bytes: u64) -> Self {
        let total = (bytes / UNIT).clamp(1, u64::from(u32::MAX));
        Self {
            units: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Holds `bytes` of the budget until the permit is dropped.
    pub(crate) fn reserve(&self, bytes: u64) -> Result<OwnedSemaphorePermit, OverBudget> {
        let units = bytes.div_ceil(UNIT);
        if units > self.total {
            return Err(OverBudget::Alone {
                bytes,
                budget: self.total * UNIT,
            });
        }
        // `units` is at most `total`, which fits a u32.
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        self.units
            .clone()
            .try_acquire_many_owned(units)
            .map_err(|_| OverBudget::Busy)
    }
}

/// Why a request gets no share of the decoding budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverBudget {
    /// Its images alone declare more than the whole budget.
    Alone {
        /// What they declare.
        bytes: u64,
        /// The whole budget.
        budget: u64,
    },
    /// Not that much of the budget is free now.
    Busy,
}

impl OverBudget {
    /// 413 for a request over the budget alone, 503 for one that must wait.
    pub(crate) fn response(self) -> Response {
        match self {
            Self::Alone { bytes, budget } => {
                let message = format!(
                    "the images declare {} MB decoded, over the server's limit of {} MB \
                     decoded at once (max_decoding_bytes); send fewer or smaller images",
                    bytes / 1_000_000,
                    budget / 1_000_000
                );
                reply::error(StatusCode::PAYLOAD_TOO_LARGE, &message)
            }
            Self::Busy => reply::busy(
                "busy: the server is decoding as many image bytes as it allows at once \
                 (max_decoding_bytes); try again shortly",
            ),
        }
    }
}

/// 413 for a batch declaring more than `max` pixels in all.
pub(crate) fn too_many_pixels(weight: Weight, max: u64) -> Option<Response> {
    (weight.pixels > max).then(|| {
        let message = format!(
            "the batch's images declare {} pixels in all, over the limit of {} per request \
             (max_batch_pixels); send them in several requests",
            hdr_common::thousands(weight.pixels),
            hdr_common::thousands(max)
        );
        reply::error(StatusCode::PAYLOAD_TOO_LARGE, &message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_weighed_from_their_headers() {
        let small = hdr_testkit::png_declaring(300, 200, &[]);
        let big = hdr_testkit::png_declaring(10_000, 10_000, &[]);
        let over = hdr_testkit::png_declaring(MAX_IMAGE_SIDE + 1, 10, &[]);
        let weight = weigh([&small[..], &big[..], &over[..], b"text"]);
        assert_eq!(weight.pixels, 60_000 + 100_000_000);
        assert_eq!(weight.bytes, 60_000 + 100_000_000);
        assert!(too_many_pixels(weight, 100_060_000).is_none());
        let refused = too_many_pixels(weight, 1_000_000).unwrap();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn the_decoding_budget_is_shared_and_given_back() {
        let budget = Decoding::new(10 * UNIT);
        let alone = budget.reserve(11 * UNIT).unwrap_err();
        assert!(matches!(alone, OverBudget::Alone { .. }));
        assert_eq!(alone.response().status(), StatusCode::PAYLOAD_TOO_LARGE);
        let held = budget.reserve(8 * UNIT).unwrap();
        let busy = budget.reserve(3 * UNIT).unwrap_err();
        assert_eq!(busy, OverBudget::Busy);
        assert_eq!(busy.response().status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(budget.reserve(10 * UNIT).is_ok());
    }
}
