//! Seeds derived from the configured seed, so that every random choice is
//! keyed by what it is for (and by epoch, batch or image) rather than by how
//! many numbers were drawn before it. That makes runs independent of thread
//! count, and lets a resumed run continue exactly where an interrupted one
//! stopped with nothing but the epoch number as RNG position.

/// What a derived seed is used for; each gets an independent stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Choice of the validation hold-out.
    Holdout = 2,
    /// Order of the training images in an epoch.
    Shuffle = 3,
    /// One image's augmentation warp.
    Augment = 4,
    /// One batch's dropout mask.
    Dropout = 5,
}

/// SplitMix64's finaliser: a bijective, well-mixing 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for `stream` keyed by the run's `seed` and two indices (e.g. epoch and image).
pub fn derive_seed(seed: u64, stream: Stream, a: u64, b: u64) -> u64 {
    mix(mix(mix(mix(seed) ^ stream as u64) ^ a) ^ b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_changes_the_seed() {
        let base = derive_seed(42, Stream::Shuffle, 3, 0);
        assert_eq!(base, derive_seed(42, Stream::Shuffle, 3, 0));
        assert_ne!(base, derive_seed(43, Stream::Shuffle, 3, 0));
        assert_ne!(base, derive_seed(42, Stream::Augment, 3, 0));
        assert_ne!(base, derive_seed(42, Stream::Shuffle, 4, 0));
        assert_ne!(base, derive_seed(42, Stream::Shuffle, 3, 1));
        // Swapping the indices gives another seed too.
        assert_ne!(
            derive_seed(42, Stream::Augment, 1, 2),
            derive_seed(42, Stream::Augment, 2, 1)
        );
    }
}
