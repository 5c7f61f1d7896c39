//! A small hdr project of the bench's own: a directory with a `pipeline.toml`
//! and `artifacts/`, whose stages run as `cargo xtask` would run them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use super::measure::{self, Measured};

/// A directory with its own `pipeline.toml`, and the `--set` overrides every
/// command in it gets.
#[derive(Debug, Clone)]
pub struct Project {
    dir: PathBuf,
    overrides: Vec<String>,
    kernels: Option<hdr_model::KernelPath>,
}

impl Project {
    /// Writes `dir/pipeline.toml` with `source` under `[data]` and the given
    /// `[train]` and `[eval]` keys (the rest keep their defaults).
    pub fn create(
        dir: &Path,
        source: &Path,
        train: toml::Table,
        eval: toml::Table,
        overrides: Vec<String>,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut data = toml::Table::new();
        data.insert(
            "source".into(),
            toml::Value::String(source.display().to_string()),
        );
        let mut config = toml::Table::new();
        config.insert("data".into(), toml::Value::Table(data));
        config.insert("train".into(), toml::Value::Table(train));
        config.insert("eval".into(), toml::Value::Table(eval));
        let text = format!(
            "# Written by `cargo xtask bench`; rewritten on every run.\n{}",
            toml::to_string(&config).context("serialise the bench's pipeline.toml")?
        );
        let path = dir.join("pipeline.toml");
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            overrides,
            kernels: None,
        })
    }

    /// The same project, its commands run with `HDR_KERNELS` set to `path`.
    pub fn on_kernels(&self, path: hdr_model::KernelPath) -> Self {
        Self {
            kernels: Some(path),
            ..self.clone()
        }
    }

    /// The project's `artifacts/`.
    pub fn artifacts(&self) -> PathBuf {
        self.dir.join("artifacts")
    }

    /// `cargo xtask --quiet --config <dir>/pipeline.toml --set … ARGS`, as a
    /// command of this same binary.
    pub fn command<S: Into<OsString>>(&self, args: impl IntoIterator<Item = S>) -> Result<Command> {
        let exe = std::env::current_exe().context("cannot find the running xtask binary")?;
        let mut command = Command::new(exe);
        command
            .arg("--quiet")
            .arg("--config")
            .arg(self.dir.join("pipeline.toml"));
        for item in &self.overrides {
            command.arg("--set").arg(item);
        }
        if let Some(path) = self.kernels {
            command.env(hdr_model::KERNELS_ENV, path.name());
        }
        command.args(args.into_iter().map(Into::into));
        Ok(command)
    }

    /// Runs one stage (`data`, `train`, `eval`), forced, in a child process.
    pub fn stage(&self, stage: &str) -> Result<Measured> {
        measure::run(self.command([stage, "--force"])?)
            .with_context(|| format!("`cargo xtask {stage}` in {}", self.dir.display()))
    }

    /// The data stage's summary.json.
    pub fn data_summary(&self) -> Result<hdr_artifacts::DataSummary> {
        let path = hdr_artifacts::DataFiles::under(&self.artifacts()).summary;
        Ok(hdr_artifacts::read_summary(&path)?)
    }

    /// The train stage's history.csv.
    pub fn history(&self) -> Result<Vec<hdr_artifacts::EpochRecord>> {
        let path = hdr_artifacts::TrainFiles::under(&self.artifacts()).history;
        Ok(hdr_artifacts::read_history(&path)?)
    }

    /// The train stage's weights file.
    pub fn weights(&self) -> PathBuf {
        hdr_artifacts::TrainFiles::under(&self.artifacts()).weights
    }

    /// The eval stage's metrics.json.
    pub fn metrics(&self) -> Result<hdr_artifacts::Metrics> {
        let path = hdr_artifacts::EvalFiles::under(&self.artifacts()).metrics;
        Ok(hdr_artifacts::read_metrics(&path)?)
    }
}

/// A `[train]` or `[eval]` table from key-value pairs.
pub fn table<const N: usize>(pairs: [(&str, toml::Value); N]) -> toml::Table {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_config_loads_like_a_users() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::create(
            dir.path(),
            Path::new("/data/x y.csv"),
            table([
                ("epochs", toml::Value::Integer(3)),
                ("augment", toml::Value::Boolean(false)),
            ]),
            table([("batch_size", toml::Value::Integer(1000))]),
            vec!["train.seed=7".into()],
        )
        .unwrap();
        let location = hdr_pipeline::Location::Explicit(dir.path().join("pipeline.toml"));
        let loaded = hdr_pipeline::load(&location, &project.overrides).unwrap();
        assert_eq!(loaded.config.data.source, Path::new("/data/x y.csv"));
        assert_eq!(loaded.config.train.epochs, 3);
        assert!(!loaded.config.train.augment);
        assert_eq!(loaded.config.train.seed, 7);
        assert_eq!(loaded.config.eval.batch_size, 1000);
        assert_eq!(project.artifacts(), dir.path().join("artifacts"));
    }
}
