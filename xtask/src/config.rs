//! `pipeline.toml`: parsing, `--set` overrides, and errors that name the key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The whole pipeline configuration, one section per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// `[data]`
    pub data: hdr_data::Config,
    /// `[model]`
    pub model: hdr_model::ModelConfig,
    /// `[train]`
    pub train: hdr_train::Config,
    /// `[eval]`
    pub eval: hdr_eval::Config,
    /// `[report]`
    pub report: hdr_report::Config,
}

/// The sections, in pipeline order.
pub const SECTIONS: [&str; 5] = ["data", "model", "train", "eval", "report"];

/// A loaded configuration and where it lives.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration (file, then overrides), with paths resolved.
    pub config: PipelineConfig,
    /// Directory of the config file: relative paths and `artifacts/` are under it.
    pub root: PathBuf,
}

/// Reads `path` (if it exists, or if it was named explicitly), applies the
/// `section.key=value` overrides, checks every key and value.
pub fn load(path: &Path, explicit: bool, overrides: &[String]) -> Result<Loaded> {
    let shown = path.display().to_string();
    let mut table = if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
        text.parse::<toml::Table>()
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?
    } else if explicit {
        bail!("config file {shown} does not exist");
    } else {
        toml::Table::new()
    };
    for item in overrides {
        apply_override(&mut table, item)?;
    }
    let config = from_table(&table, &shown)?;
    let root = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let mut config = config;
    if config.data.source.is_relative() {
        config.data.source = root.join(&config.data.source);
    }
    Ok(Loaded { config, root })
}

/// Applies one `section.key=value` override; the value is read as TOML, or as
/// a plain string when it is not valid TOML (so `data.source=x.csv` works).
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .with_context(|| format!("--set {item}: expected section.key=value"))?;
    let key = key.trim();
    let (section, field) = key
        .split_once('.')
        .with_context(|| format!("--set {item}: the key must be section.key, e.g. train.epochs"))?;
    let value = match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed key v"),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        bail!("--set {item}: `{section}` is not a section");
    };
    section_table.insert(field.to_string(), value);
    Ok(())
}

/// Builds the typed config, naming the first unknown or ill-typed key, then validates ranges.
fn from_table(table: &toml::Table, shown: &str) -> Result<PipelineConfig> {
    let defaults = PipelineConfig::default();
    for (name, value) in table {
        if !SECTIONS.contains(&name.as_str()) {
            bail!(
                "{shown}: unknown section `[{name}]` (known: {})",
                SECTIONS.join(", ")
            );
        }
        if !value.is_table() {
            bail!("{shown}: `{name}` must be a section ([{name}])");
        }
    }
    let config = PipelineConfig {
        data: section(table, "data", &defaults.data, shown)?,
        model: section(table, "model", &defaults.model, shown)?,
        train: section(table, "train", &defaults.train, shown)?,
        eval: section(table, "eval", &defaults.eval, shown)?,
        report: section(table, "report", &defaults.report, shown)?,
    };
    let checks = [
        config.data.validate(),
        config.train.validate(),
        config.eval.validate(),
        config.report.validate(),
    ];
    for check in checks {
        check.map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    }
    Ok(config)
}

/// Deserialises one section key by key onto its defaults, so an error names `section.key`.
fn section<T>(table: &toml::Table, name: &str, defaults: &T, shown: &str) -> Result<T>
where
    T: Serialize + DeserializeOwned,
{
    let default_table = toml::Table::try_from(defaults).context("serialise default config")?;
    let Some(toml::Value::Table(user)) = table.get(name) else {
        return Ok(toml::Value::Table(default_table).try_into()?);
    };
    let mut merged = default_table.clone();
    for (key, value) in user {
        if !default_table.contains_key(key) {
            let known: Vec<&str> = default_table.keys().map(String::as_str).collect();
            bail!(
                "{shown}: unknown key `{name}.{key}` (known keys in [{name}]: {})",
                known.join(", ")
            );
        }
        merged.insert(key.clone(), value.clone());
        if let Err(e) = toml::Value::Table(merged.clone()).try_into::<T>() {
            let expected = describe(&default_table[key]);
            bail!(
                "{shown}: bad value for `{name}.{key}` = {value}: expected {expected} ({})",
                first_line(&e.to_string())
            );
        }
    }
    Ok(toml::Value::Table(merged).try_into()?)
}

fn describe(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
        toml::Value::Datetime(_) => "a date",
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, overrides: &[&str]) -> Result<PipelineConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, text).unwrap();
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        load(&path, true, &overrides).map(|l| l.config)
    }

    #[test]
    fn empty_file_gives_defaults_with_resolved_source() {
        let config = load_text("", &[]).unwrap();
        assert_eq!(config.data.test_fraction, 0.2);
        assert!(config.data.source.is_absolute());
        assert!(config.data.source.ends_with("data/mnist-sample.csv.gz"));
    }

    #[test]
    fn unknown_key_is_named_with_its_section_and_file() {
        let err = load_text("[data]\nsead = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `data.sead`"), "{err}");
        assert!(err.contains("pipeline.toml"), "{err}");
    }

    #[test]
    fn unknown_section_is_named() {
        let err = load_text("[dataa]\nseed = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown section `[dataa]`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = load_text("[data]\ntest_fraction = \"lots\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`data.test_fraction`"), "{err}");
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let err = load_text("[data]\ntest_fraction = 1.5\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.test_fraction"), "{err}");
    }

    #[test]
    fn overrides_apply_after_the_file() {
        let config = load_text("[data]\nseed = 1\n", &["data.seed=7", "train.epochs=3"]).unwrap();
        assert_eq!(config.data.seed, 7);
        assert_eq!(config.train.epochs, 3);
    }

    #[test]
    fn override_with_unknown_key_is_an_error() {
        let err = load_text("", &["train.epoch=3"]).unwrap_err().to_string();
        assert!(err.contains("unknown key `train.epoch`"), "{err}");
    }

    #[test]
    fn model_architecture_is_read_and_a_bad_one_names_the_key_and_the_choices() {
        assert_eq!(
            load_text("", &[]).unwrap().model.architecture,
            hdr_model::Architecture::Seed
        );
        let config = load_text("[model]\narchitecture = \"deep\"\n", &[]).unwrap();
        assert_eq!(config.model.architecture, hdr_model::Architecture::Deep);
        let config = load_text("", &["model.architecture=deep"]).unwrap();
        assert_eq!(config.model.architecture, hdr_model::Architecture::Deep);
        let err = load_text("[model]\narchitecture = \"wide\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model.architecture`"), "{err}");
        for name in hdr_model::Architecture::NAMES {
            assert!(err.contains(&format!("`{name}`")), "{err}");
        }
        let err = load_text("[model]\nlayers = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `model.layers`"), "{err}");
    }

    #[test]
    fn string_override_needs_no_quotes() {
        let config = load_text("", &["data.source=other.csv"]).unwrap();
        assert!(config.data.source.ends_with("other.csv"));
    }
}
