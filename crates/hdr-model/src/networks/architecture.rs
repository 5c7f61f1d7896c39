//! Which network to build: the `[model]` section of pipeline.toml.

use serde::{Deserialize, Serialize};

/// The networks this crate can build, by their config name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// The seed's Keras model: Conv(32) → Pool → Conv(64) → Pool → Flatten →
    /// Dropout → Dense(10) ([`crate::Cnn`]).
    #[default]
    Seed,
    /// Two conv pairs: Conv(32) → Conv(32) → Pool → Conv(64) → Conv(64) →
    /// Pool → Flatten → Dense(128) → Dropout → Dense(10) ([`crate::Deep`]).
    Deep,
}

impl Architecture {
    /// Every architecture, in the order the docs list them.
    pub const ALL: [Architecture; 2] = [Architecture::Seed, Architecture::Deep];
    /// Every architecture's config name (for messages listing the allowed values).
    pub const NAMES: [&'static str; 2] = ["seed", "deep"];

    /// The config name, as in `architecture = "seed"`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Seed => Self::NAMES[0],
            Architecture::Deep => Self::NAMES[1],
        }
    }

    /// The architecture with this config name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A network name that is not one of [`Architecture::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network `{0}` (expected one of: {names})", names = Architecture::NAMES.join(", "))]
pub struct UnknownArchitecture(pub String);

impl std::str::FromStr for Architecture {
    type Err = UnknownArchitecture;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| UnknownArchitecture(name.to_string()))
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `[model]` section of pipeline.toml (every key has a default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `"seed"` (default) or `"deep"`.
    pub architecture: Architecture,
}

impl ModelConfig {
    /// Checks the section; serde already refuses unknown architectures, so
    /// every value that parses is valid.
    pub fn validate(&self) -> Result<(), hdr_common::ConfigError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_name() {
        for a in Architecture::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
            assert_eq!(serde_json::from_str::<Architecture>(&json).unwrap(), a);
            assert_eq!(Architecture::from_name(a.name()), Some(a));
        }
        assert_eq!(Architecture::default(), Architecture::Seed);
        assert_eq!(Architecture::from_name("wide"), None);
        assert_eq!("deep".parse(), Ok(Architecture::Deep));
        let err = "wide".parse::<Architecture>().unwrap_err().to_string();
        assert_eq!(err, "unknown network `wide` (expected one of: seed, deep)");
        let err = serde_json::from_str::<ModelConfig>(r#"{"architecture": "wide"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`seed`") && err.contains("`deep`"), "{err}");
    }
}
