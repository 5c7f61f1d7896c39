//! A project: its effective configuration, its root folder and its
//! artifacts, and what each stage reads and is configured by.

use std::path::{Path, PathBuf};

use crate::config::{Loaded, PipelineConfig};
use crate::run_cache::Cache;
use crate::stage::Stage;

/// The project a command works on: the configuration in force and where
/// its files are. What the runner compares and records is derived from it.
#[derive(Debug, Clone)]
pub struct Project {
    /// The effective configuration.
    pub config: PipelineConfig,
    /// Project root (the config file's directory).
    pub root: PathBuf,
    /// `<root>/artifacts`.
    pub artifacts: PathBuf,
}

impl Project {
    /// The project of a loaded configuration: artifacts under its root.
    pub fn of(loaded: &Loaded) -> Self {
        Self::with_config(loaded.config.clone(), &loaded.root)
    }

    /// The project at `root` with `config` in force.
    pub fn with_config(config: PipelineConfig, root: &Path) -> Self {
        Self {
            config,
            root: root.to_path_buf(),
            artifacts: root.join("artifacts"),
        }
    }

    /// The lock file's path.
    pub fn lock_path(&self) -> PathBuf {
        self.artifacts.join("pipeline.lock")
    }

    /// A path as recorded in the lock file and shown to users: relative to the root when under it.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The stage's config section, as recorded in the lock file.
    pub(crate) fn params(&self, stage: Stage) -> serde_json::Value {
        let c = &self.config;
        let value = match stage {
            // Record the source as written relative to the root, so a moved
            // checkout is not stale just because its absolute path changed.
            Stage::Data => serde_json::to_value(c.data.map_paths(|p| self.display(p).into())),
            // The `[model]` section shapes the train stage too: its keys are
            // recorded beside `[train]`'s as `model.<key>`.
            Stage::Train => serde_json::to_value(&c.train).map(|mut train| {
                let model = serde_json::to_value(c.model).expect("configs serialise to JSON");
                if let (Some(train), Some(model)) = (train.as_object_mut(), model.as_object()) {
                    for (key, value) in model {
                        train.insert(format!("model.{key}"), value.clone());
                    }
                }
                train
            }),
            Stage::Eval => serde_json::to_value(&c.eval),
            Stage::Report => serde_json::to_value(&c.report),
        };
        value.expect("configs serialise to JSON")
    }

    /// The files a stage reads, each with the stage that makes it (None for
    /// source data): what each stage crate's `Paths::inputs` says.
    pub fn deps(&self, stage: Stage) -> Vec<(PathBuf, Option<Stage>)> {
        let a = &self.artifacts;
        fn owned<P: AsRef<Path>>(inputs: &[(P, &'static str)]) -> Vec<(PathBuf, Option<Stage>)> {
            inputs
                .iter()
                .map(|(path, maker)| (path.as_ref().to_path_buf(), Stage::named(maker)))
                .collect()
        }
        match stage {
            // The user's digits are an input once the file exists: the
            // first one saved makes the data stage stale.
            Stage::Data => std::iter::once(self.config.data.source.as_path())
                .chain(self.config.data.test_source.as_deref())
                .chain(self.config.data.user_samples_file())
                .chain(
                    self.config
                        .data
                        .extra_test_sources
                        .iter()
                        .map(PathBuf::as_path),
                )
                .map(|p| (p.to_path_buf(), None))
                .collect(),
            Stage::Train => owned(&hdr_train::Paths::under(a).inputs()),
            Stage::Eval => owned(&hdr_eval::Paths::under(a).inputs()),
            Stage::Report => owned(&hdr_report::Paths::under(a).inputs()),
        }
    }

    /// The run cache of this project's artifacts.
    pub fn cache(&self) -> Cache {
        Cache::under(&self.artifacts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_names_the_stage_that_makes_it() {
        let project = Project::with_config(PipelineConfig::default(), Path::new("/p"));
        assert_eq!(project.artifacts, Path::new("/p/artifacts"));
        let makers = |stage| -> Vec<Option<Stage>> {
            project.deps(stage).into_iter().map(|(_, m)| m).collect()
        };
        assert_eq!(makers(Stage::Data), [None]);
        assert_eq!(makers(Stage::Train), [Some(Stage::Data); 2]);
        assert_eq!(
            makers(Stage::Eval),
            [
                Some(Stage::Data),
                Some(Stage::Data),
                Some(Stage::Data),
                Some(Stage::Train)
            ]
        );
        assert_eq!(makers(Stage::Report).len(), 6);
        for stage in Stage::ALL {
            for (path, maker) in project.deps(stage) {
                if let Some(maker) = maker {
                    assert!(maker < stage, "{} reads {}", stage.name(), path.display());
                    assert!(path.starts_with(project.artifacts.join(maker.name())));
                }
            }
        }
    }

    #[test]
    fn paths_under_the_root_are_shown_relative() {
        let project = Project::with_config(PipelineConfig::default(), Path::new("/p"));
        assert_eq!(project.display(Path::new("/p/artifacts/x")), "artifacts/x");
        assert_eq!(project.display(Path::new("/elsewhere/x")), "/elsewhere/x");
        assert_eq!(project.lock_path(), Path::new("/p/artifacts/pipeline.lock"));
    }
}
