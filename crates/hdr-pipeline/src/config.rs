//! `pipeline.toml`: where it is, parsing, `--set` overrides, errors that name
//! the key, and where each effective value comes from.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// The config file's name at the project root.
pub const FILE_NAME: &str = "pipeline.toml";

type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Declares the pipeline's sections once: the struct, the list of names, and
/// the key-by-key loading and validation. A new section is one line here,
/// given a type with `Default`, serde and `validate() -> Result<(), hdr_common::ConfigError>`.
macro_rules! sections {
    ($($(#[$doc:meta])* $name:ident: $ty:ty,)+) => {
        /// The whole pipeline configuration, one section per stage.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct PipelineConfig {
            $($(#[$doc])* pub $name: $ty,)+
        }

        /// The sections, in pipeline order.
        pub const SECTIONS: &[&str] = &[$(stringify!($name)),+];

        impl PipelineConfig {
            /// Builds the typed config from a table whose sections are known,
            /// naming the first unknown or ill-typed key, then checks ranges.
            fn from_sections(table: &toml::Table, file: &Path) -> Result<Self> {
                let defaults = Self::default();
                let config = Self {
                    $($name: section(table, stringify!($name), &defaults.$name, file)?,)+
                };
                $(config.$name.validate().map_err(|source| ConfigError::OutOfRange {
                    file: file.to_path_buf(),
                    source,
                })?;)+
                Ok(config)
            }

            /// Each section as a TOML table, in pipeline order.
            pub fn tables(&self) -> Result<Vec<(&'static str, toml::Table)>> {
                Ok(vec![$((
                    stringify!($name),
                    toml::Table::try_from(&self.$name).map_err(|source| ConfigError::Show {
                        section: stringify!($name),
                        source,
                    })?,
                ),)+])
            }

            /// Each section's Rust type (`hdr_data::Config`), whose field docs describe its keys.
            #[cfg(test)]
            pub fn section_types() -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($name), std::any::type_name::<$ty>()),)+]
            }
        }
    };
}

sections! {
    /// `[data]`
    data: hdr_data::Config,
    /// `[model]`
    model: hdr_model::ModelConfig,
    /// `[train]`
    train: hdr_train::Config,
    /// `[eval]`
    eval: hdr_eval::Config,
    /// `[report]`
    report: hdr_report::Config,
}

/// Which config file to read.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// `--config PATH`, relative to the current folder; it must exist.
    Explicit(PathBuf),
    /// `pipeline.toml` at the project root found from the current folder;
    /// when it does not exist, every key takes its default.
    Found(PathBuf),
}

impl Location {
    /// `--config PATH` when given, else the project's `pipeline.toml`: at the
    /// root of the Cargo workspace holding `cwd`, else in the nearest folder
    /// above `cwd` that has one, else in `cwd`.
    pub fn resolve(explicit: Option<PathBuf>, cwd: &Path) -> Self {
        if let Some(path) = explicit {
            return Self::Explicit(path);
        }
        let root = hdr_workspace::find_root(cwd)
            .or_else(|| {
                cwd.ancestors()
                    .find(|dir| dir.join(FILE_NAME).is_file())
                    .map(Path::to_path_buf)
            })
            .unwrap_or_else(|| cwd.to_path_buf());
        Self::Found(root.join(FILE_NAME))
    }

    /// The config file's path.
    pub fn path(&self) -> &Path {
        match self {
            Self::Explicit(p) | Self::Found(p) => p,
        }
    }
}

/// Where an effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Origin {
    /// The key's default.
    #[serde(rename = "default")]
    Default,
    /// The config file.
    #[serde(rename = "file")]
    File,
    /// A `--set` override.
    #[serde(rename = "--set")]
    Set,
}

impl Origin {
    /// As shown to users and in `--json`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Set => "--set",
        }
    }
}

/// A loaded configuration and where it lives.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration (file, then overrides), with paths resolved.
    pub config: PipelineConfig,
    /// The same before paths were resolved, as the user wrote it.
    pub as_written: PipelineConfig,
    /// Directory of the config file: relative paths and `artifacts/` are under it.
    pub root: PathBuf,
    /// The config file, absolute; None when it does not exist.
    pub file: Option<PathBuf>,
    /// The keys the file sets, as `section.key`.
    file_keys: Vec<String>,
    /// The keys `--set` sets, as `section.key`.
    set_keys: Vec<String>,
}

/// Reads the config file (if it exists; `--config` must), applies the
/// `section.key=value` overrides, checks every key and value.
pub fn load(location: &Location, overrides: &[String]) -> Result<Loaded> {
    let path = location.path();
    let exists = path.exists();
    let mut table = if exists {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        text.parse::<toml::Table>()
            .map_err(|source| ConfigError::Syntax {
                file: path.to_path_buf(),
                source,
            })?
    } else if matches!(location, Location::Explicit(_)) {
        return Err(ConfigError::Missing {
            file: path.to_path_buf(),
        });
    } else {
        toml::Table::new()
    };
    let file_keys = keys_of(&table);
    let mut set_keys = Vec::new();
    for item in overrides {
        set_keys.push(apply_override(&mut table, item)?);
    }
    let as_written = from_table(&table, path)?;
    let root = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let mut config = as_written.clone();
    config.data = config.data.map_paths(|p| root.join(p));
    let file = exists.then(|| root.join(path.file_name().unwrap_or_default()));
    Ok(Loaded {
        config,
        as_written,
        root,
        file,
        file_keys,
        set_keys,
    })
}

impl Loaded {
    /// Where the value of `section.key` comes from.
    pub fn origin(&self, key: &str) -> Origin {
        if self.set_keys.iter().any(|k| k == key) {
            Origin::Set
        } else if self.file_keys.iter().any(|k| k == key) {
            Origin::File
        } else {
            Origin::Default
        }
    }

    /// Every key of every section: (section, key, value as written, default, origin).
    pub fn provenance(&self) -> Result<Vec<KeyValue>> {
        let defaults = PipelineConfig::default().tables()?;
        let mut rows = Vec::new();
        for ((section, values), (_, default_values)) in
            self.as_written.tables()?.into_iter().zip(defaults)
        {
            for (key, value) in values {
                let dotted = format!("{section}.{key}");
                rows.push(KeyValue {
                    origin: self.origin(&dotted),
                    default: default_values.get(&key).cloned(),
                    section,
                    key,
                    value,
                });
            }
        }
        Ok(rows)
    }
}

/// One effective key, for `cargo xtask config`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    /// `data`, `train`, ...
    pub section: &'static str,
    /// The key within its section.
    pub key: String,
    /// Its effective value.
    pub value: toml::Value,
    /// Its default (None for a key without one, which cannot happen for a typed section).
    pub default: Option<toml::Value>,
    /// Where the value comes from.
    pub origin: Origin,
}

/// `section.key` for every key of every section of `table`.
fn keys_of(table: &toml::Table) -> Vec<String> {
    table
        .iter()
        .filter_map(|(section, v)| v.as_table().map(|t| (section, t)))
        .flat_map(|(section, t)| t.keys().map(move |k| format!("{section}.{k}")))
        .collect()
}

/// Applies one `section.key=value` override and returns `section.key`; the
/// value is read as TOML, or as a plain string when it is not valid TOML (so
/// `data.source=x.csv` works).
fn apply_override(table: &mut toml::Table, item: &str) -> Result<String> {
    let bad = |problem: &str| ConfigError::BadOverride {
        item: item.to_string(),
        problem: problem.to_string(),
    };
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| bad("expected section.key=value"))?;
    let key = key.trim();
    let (section, field) = key
        .split_once('.')
        .ok_or_else(|| bad("the key must be section.key, e.g. train.epochs"))?;
    let value = match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed key v"),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(bad(&format!("`{section}` is not a section")));
    };
    section_table.insert(field.to_string(), value);
    Ok(key.to_string())
}

/// Builds the typed config, naming the first unknown or ill-typed key, then validates ranges.
fn from_table(table: &toml::Table, file: &Path) -> Result<PipelineConfig> {
    for (name, value) in table {
        if !SECTIONS.contains(&name.as_str()) {
            return Err(ConfigError::UnknownSection {
                file: file.to_path_buf(),
                section: name.clone(),
                known: SECTIONS,
            });
        }
        if !value.is_table() {
            return Err(ConfigError::NotASection {
                file: file.to_path_buf(),
                section: name.clone(),
            });
        }
    }
    PipelineConfig::from_sections(table, file)
}

/// Deserialises one section key by key onto its defaults, so an error names `section.key`.
fn section<T>(table: &toml::Table, name: &str, defaults: &T, file: &Path) -> Result<T>
where
    T: Serialize + DeserializeOwned,
{
    // A section's defaults are plain values (numbers, strings, paths) that
    // TOML holds and reads back: these two conversions cannot fail.
    let default_table = toml::Table::try_from(defaults).expect("a section's defaults are TOML");
    let Some(toml::Value::Table(user)) = table.get(name) else {
        return Ok(toml::Value::Table(default_table)
            .try_into()
            .expect("a section's defaults read back"));
    };
    let mut merged = default_table.clone();
    for (key, value) in user {
        if !default_table.contains_key(key) && !is_optional_key::<T>(&default_table, key) {
            return Err(ConfigError::UnknownKey {
                file: file.to_path_buf(),
                key: format!("{name}.{key}"),
                known: default_table.keys().cloned().collect(),
            });
        }
        merged.insert(key.clone(), value.clone());
        if let Err(e) = toml::Value::Table(merged.clone()).try_into::<T>() {
            let message = e.to_string();
            // An optional key has no default to take its type from; a value
            // of the right type but not allowed (e.g. an unknown
            // architecture) has serde's message, which lists the choices.
            let expected = default_table
                .get(key)
                .map(describe)
                .filter(|expected| *expected != describe(value));
            return Err(ConfigError::BadValue {
                file: file.to_path_buf(),
                key: format!("{name}.{key}"),
                value: value.to_string(),
                expected,
                detail: serde_detail(&message).to_string(),
            });
        }
    }
    // Every key was read back above, the last one with all the others.
    Ok(toml::Value::Table(merged)
        .try_into()
        .expect("the merged section was read back key by key"))
}

/// Whether `key` is a field of `T` that has no default (an `Option` left
/// unset, which the default table leaves out): `T` accepts it.
fn is_optional_key<T: DeserializeOwned>(defaults: &toml::Table, key: &str) -> bool {
    let mut probe = defaults.clone();
    probe.insert(key.to_string(), toml::Value::String(String::new()));
    match toml::Value::Table(probe).try_into::<T>() {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown field"),
    }
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

/// The line of a serde error that says what is wrong, without the
/// "in `key`" location lines (the message names the key itself).
fn serde_detail(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("in `"))
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
        load(&Location::Explicit(path), &overrides).map(|l| l.config)
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
        let err = load_text("[data]\nsead = 3\n", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { key, .. } if key == "data.sead"),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.contains("unknown key `data.sead`"), "{err}");
        assert!(err.contains("pipeline.toml"), "{err}");
    }

    #[test]
    fn an_optional_key_without_a_default_is_known_and_type_checked() {
        let config = load_text("[data]\ntest_source = \"t.csv\"\n", &[]).unwrap();
        let test = config.data.test_source.unwrap();
        assert!(test.is_absolute() && test.ends_with("t.csv"), "{test:?}");
        assert_eq!(load_text("", &[]).unwrap().data.test_source, None);
        let err = load_text("[data]\ntest_source = 3\n", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, expected: None, .. } if key == "data.test_source"),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(
            err.contains("bad value for `data.test_source` = 3"),
            "{err}"
        );
    }

    #[test]
    fn unknown_section_is_named() {
        let err = load_text("[dataa]\nseed = 3\n", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownSection { section, .. } if section == "dataa"),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.contains("unknown section `[dataa]`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = load_text("[data]\ntest_fraction = \"lots\"\n", &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, expected: Some("a number"), .. } if key == "data.test_fraction"),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.contains("`data.test_fraction`"), "{err}");
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let err = load_text("[data]\ntest_fraction = 1.5\n", &[]).unwrap_err();
        assert!(matches!(err, ConfigError::OutOfRange { .. }), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("data.test_fraction"), "{err}");
    }

    #[test]
    fn a_malformed_override_is_named() {
        for (item, problem) in [
            ("train.epochs", "expected section.key=value"),
            ("epochs=3", "the key must be section.key, e.g. train.epochs"),
        ] {
            let err = load_text("", &[item]).unwrap_err();
            assert!(
                matches!(&err, ConfigError::BadOverride { item: i, problem: p } if i == item && p == problem),
                "{err:?}"
            );
        }
        let err = load_text("data = 3\n", &["data.seed=3"]).unwrap_err();
        assert!(matches!(err, ConfigError::BadOverride { .. }), "{err:?}");
    }

    #[test]
    fn overrides_apply_after_the_file() {
        let config = load_text("[data]\nseed = 1\n", &["data.seed=7", "train.epochs=3"]).unwrap();
        assert_eq!(config.data.seed, 7);
        assert_eq!(config.train.epochs, 3);
    }

    #[test]
    fn override_with_unknown_key_is_an_error() {
        let err = load_text("", &["train.epoch=3"]).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err:?}");
        let err = err.to_string();
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

    #[test]
    fn origin_tells_default_file_and_set_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, "[data]\nseed = 1\ntest_fraction = 0.25\n").unwrap();
        let loaded = load(&Location::Explicit(path), &["data.seed=7".to_string()]).unwrap();
        assert_eq!(loaded.origin("data.seed"), Origin::Set);
        assert_eq!(loaded.origin("data.test_fraction"), Origin::File);
        assert_eq!(loaded.origin("train.epochs"), Origin::Default);
        let rows = loaded.provenance().unwrap();
        let seed = rows
            .iter()
            .find(|r| r.section == "data" && r.key == "seed")
            .unwrap();
        assert_eq!(seed.value, toml::Value::Integer(7));
        assert_eq!(seed.default, Some(toml::Value::Integer(42)));
        let source = rows.iter().find(|r| r.key == "source").unwrap();
        assert_eq!(
            source.value,
            toml::Value::String("data/mnist-sample.csv.gz".into()),
            "shown as written, not resolved"
        );
        let sections: Vec<&str> = rows.iter().map(|r| r.section).collect();
        for section in SECTIONS {
            assert!(
                sections.contains(section),
                "{section} missing: {sections:?}"
            );
        }
    }

    #[test]
    fn a_missing_found_file_means_defaults_but_an_explicit_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.toml");
        let found = load(&Location::Found(path.clone()), &[]).unwrap();
        assert_eq!(found.file, None);
        assert_eq!(found.config.train, hdr_train::Config::default());
        let err = load(&Location::Explicit(path.clone()), &[]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Missing { file } if *file == path),
            "{err:?}"
        );
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn the_project_is_found_from_any_folder_below_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\n").unwrap();
        let nested = root.join("crates/a/src");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("pipeline.toml"), "# not the project's\n").unwrap();
        for cwd in [root.to_path_buf(), root.join("crates"), nested.clone()] {
            assert_eq!(
                Location::resolve(None, &cwd),
                Location::Found(root.join("pipeline.toml")),
                "from {}",
                cwd.display()
            );
        }
        let explicit = PathBuf::from("other.toml");
        assert_eq!(
            Location::resolve(Some(explicit.clone()), &nested),
            Location::Explicit(explicit)
        );
        // Outside a workspace: the nearest pipeline.toml above, else the current folder.
        let loose = tempfile::tempdir().unwrap();
        let below = loose.path().join("a/b");
        std::fs::create_dir_all(&below).unwrap();
        std::fs::write(loose.path().join("a/pipeline.toml"), "").unwrap();
        assert_eq!(
            Location::resolve(None, &below),
            Location::Found(loose.path().join("a/pipeline.toml"))
        );
    }
}
