//! The `[eval]` section of pipeline.toml.

use serde::{Deserialize, Serialize};

/// The `[eval]` section of pipeline.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Images per inference batch (memory use grows with it).
    pub batch_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { batch_size: 1000 }
    }
}

impl Config {
    /// Checks ranges; errors name the key (`eval.batch_size`).
    pub fn validate(&self) -> Result<(), hdr_common::ConfigError> {
        if self.batch_size == 0 {
            return Err(hdr_common::ConfigError::new(
                "eval.batch_size",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation_name_the_key() {
        let config: Config = toml::from_str("").unwrap();
        assert_eq!(config, Config { batch_size: 1000 });
        assert!(config.validate().is_ok());
        let error = Config { batch_size: 0 }.validate().unwrap_err();
        assert_eq!(error.key, "eval.batch_size");
        let unknown = toml::from_str::<Config>("batch = 3")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("batch"), "{unknown}");
    }
}
