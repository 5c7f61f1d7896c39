//! The four stages by name, in pipeline order, with the code version
//! `build.rs` baked in for each. Below everything that runs them.

include!(concat!(env!("OUT_DIR"), "/code_hashes.rs"));

/// A pipeline stage, in the order data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Stage {
    /// Load, validate and split the source CSV.
    Data,
    /// Train the CNN on the train split.
    Train,
    /// Score the model on both splits.
    Eval,
    /// Draw the charts and write the HTML report.
    Report,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 4] = [Stage::Data, Stage::Train, Stage::Eval, Stage::Report];

    /// The stage's name, as on the command line and in the lock file.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Data => "data",
            Stage::Train => "train",
            Stage::Eval => "eval",
            Stage::Report => "report",
        }
    }

    /// The stage called `name` (as the stage crates name their producers).
    pub fn named(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.name() == name)
    }

    /// Whether the stage runs the network, so its results depend on the
    /// kernel path (train and eval).
    pub fn runs_kernels(self) -> bool {
        matches!(self, Stage::Train | Stage::Eval)
    }

    /// The stage's code version, as the lock file records it.
    pub fn code_hash(self) -> &'static str {
        STAGE_CODE_HASHES
            .iter()
            .find(|(name, _)| *name == self.name())
            .map(|(_, hash)| *hash)
            .expect("build.rs hashes every stage")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_a_code_hash_and_its_name() {
        for stage in Stage::ALL {
            assert_eq!(stage.code_hash().len(), 64);
            assert_eq!(Stage::named(stage.name()), Some(stage));
        }
        assert_eq!(Stage::named("deploy"), None);
    }
}
