//! `checkpoint.bin`: everything needed to continue an interrupted run.
//!
//! Layout (little-endian): the magic `HDRTRAIN`, a format version (u32), the
//! fingerprint of config and data (32 raw bytes of SHA-256), the number of
//! epochs done, best epoch, best validation accuracy and loss (f64 bits), the
//! history rows (count, then eight numbers each), then two length-prefixed
//! blobs: the learner's own checkpoint (weights and Adam state) and the
//! best-so-far weights as safetensors. Numbers are stored as raw bits so a
//! resumed run compares and reports exactly what the interrupted one had.
//!
//! The RNG position is just the number of epochs done: every random draw is
//! keyed by (seed, epoch, ...), see [`crate::seeds`].

use std::path::Path;

use crate::EpochRecord;

const MAGIC: &[u8; 8] = b"HDRTRAIN";
const VERSION: u32 = 1;

/// The state saved after an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// SHA-256 of the config and the train data the run was started with.
    pub fingerprint: [u8; 32],
    /// Epochs completed.
    pub epochs_done: usize,
    /// 1-based epoch of the best weights so far.
    pub best_epoch: usize,
    /// Validation accuracy of the best weights so far.
    pub best_val_accuracy: f64,
    /// Validation loss of the best weights so far (tie-break).
    pub best_val_loss: f64,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
    /// [`hdr_model::Learner::checkpoint_bytes`] after the last completed epoch.
    pub learner: Vec<u8>,
    /// The best weights so far, as safetensors.
    pub best_weights: Vec<u8>,
}

impl Checkpoint {
    /// Serialises the checkpoint.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.learner.len() + self.best_weights.len() + 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.fingerprint);
        put_u64(&mut out, self.epochs_done as u64);
        put_u64(&mut out, self.best_epoch as u64);
        put_f64(&mut out, self.best_val_accuracy);
        put_f64(&mut out, self.best_val_loss);
        put_u64(&mut out, self.history.len() as u64);
        for r in &self.history {
            put_u64(&mut out, r.epoch as u64);
            for value in [
                r.train_loss,
                r.train_accuracy,
                r.val_loss,
                r.val_accuracy,
                r.learning_rate,
                r.seconds,
                r.samples_per_s,
            ] {
                put_f64(&mut out, value);
            }
        }
        put_u64(&mut out, self.learner.len() as u64);
        out.extend_from_slice(&self.learner);
        put_u64(&mut out, self.best_weights.len() as u64);
        out.extend_from_slice(&self.best_weights);
        out
    }

    /// Parses [`Checkpoint::to_bytes`]; errors name `origin` and the byte offset.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self, String> {
        let mut r = Reader {
            bytes,
            at: 0,
            origin,
        };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(format!(
                "{}: not an hdr-train checkpoint (bad magic)",
                origin.display()
            ));
        }
        let version = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(format!(
                "{}: checkpoint format version {version}, this build reads version {VERSION}",
                origin.display()
            ));
        }
        let fingerprint: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
        let epochs_done = r.usize()?;
        let best_epoch = r.usize()?;
        let best_val_accuracy = r.f64()?;
        let best_val_loss = r.f64()?;
        let rows = r.usize()?;
        if rows != epochs_done {
            return Err(format!(
                "{}: checkpoint has {rows} history rows for {epochs_done} epochs",
                origin.display()
            ));
        }
        let mut history = Vec::with_capacity(rows.min(100_000));
        for _ in 0..rows {
            history.push(EpochRecord {
                epoch: r.usize()?,
                train_loss: r.f64()?,
                train_accuracy: r.f64()?,
                val_loss: r.f64()?,
                val_accuracy: r.f64()?,
                learning_rate: r.f64()?,
                seconds: r.f64()?,
                samples_per_s: r.f64()?,
            });
        }
        let learner = r.blob()?.to_vec();
        let best_weights = r.blob()?.to_vec();
        if r.at != bytes.len() {
            return Err(format!(
                "{}: {} unexpected bytes after the checkpoint",
                origin.display(),
                bytes.len() - r.at
            ));
        }
        Ok(Self {
            fingerprint,
            epochs_done,
            best_epoch,
            best_val_accuracy,
            best_val_loss,
            history,
            learner,
            best_weights,
        })
    }
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_bits().to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    origin: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "{}: checkpoint truncated at byte {} (needed {n} more bytes)",
                    self.origin.display(),
                    self.at
                )
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn usize(&mut self) -> Result<usize, String> {
        let at = self.at;
        usize::try_from(self.u64()?)
            .map_err(|_| format!("{}: bad count at byte {at}", self.origin.display()))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn blob(&mut self) -> Result<&'a [u8], String> {
        let len = self.usize()?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            fingerprint: [7; 32],
            epochs_done: 2,
            best_epoch: 1,
            best_val_accuracy: 0.987_654_321,
            best_val_loss: 0.0432,
            history: (1..=2)
                .map(|epoch| EpochRecord {
                    epoch,
                    train_loss: 0.1 / epoch as f64,
                    train_accuracy: 0.9,
                    val_loss: 0.2,
                    val_accuracy: 0.95 + epoch as f64 / 1000.0,
                    learning_rate: 1e-3,
                    seconds: 1.5,
                    samples_per_s: 12_345.6,
                })
                .collect(),
            learner: vec![1, 2, 3],
            best_weights: vec![9; 10],
        }
    }

    #[test]
    fn round_trips_exactly() {
        let checkpoint = sample();
        let back = Checkpoint::from_bytes(&checkpoint.to_bytes(), Path::new("c.bin")).unwrap();
        assert_eq!(back, checkpoint);
    }

    #[test]
    fn truncation_and_garbage_are_errors_naming_the_file() {
        let bytes = sample().to_bytes();
        for cut in [0, 5, 20, 60, bytes.len() - 1] {
            let err =
                Checkpoint::from_bytes(&bytes[..cut], Path::new("dir/checkpoint.bin")).unwrap_err();
            assert!(err.contains("dir/checkpoint.bin"), "{err}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Checkpoint::from_bytes(&longer, Path::new("c.bin"))
            .unwrap_err()
            .contains("unexpected bytes"));
        let err =
            Checkpoint::from_bytes(b"PK\x03\x04 something else", Path::new("c.bin")).unwrap_err();
        assert!(err.contains("not an hdr-train checkpoint"), "{err}");
    }
}
