//! `clean`: the stages' outputs removed, under the runner lock.

use crate::project::Project;
use crate::runner::Options;
use crate::runner_lock;
use crate::Error;

/// Removes the artifacts directory's contents, holding the runner lock (whose
/// file stays); the run log and the run cache stay unless `all`.
pub fn clean(project: &Project, all: bool, options: Options) -> Result<(), Error> {
    let dir = &project.artifacts;
    if !dir.exists() {
        if !options.quiet {
            eprintln!("nothing to clean: {} does not exist", project.display(dir));
        }
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(Error::NotAFolder { path: dir.clone() });
    }
    let _held = runner_lock::acquire(dir, options.wait, options.quiet)?;
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let path = entry.map_err(Error::io("list", dir))?.path();
        // The lock file stays: removing it would let a waiting runner and a
        // new one each lock a different file.
        let history = [hdr_artifacts::RUN_LOG_FILE, hdr_artifacts::CACHE_DIR];
        if path.file_name().is_some_and(|n| {
            n == ".gitkeep"
                || n == runner_lock::FILE_NAME
                || (!all && history.iter().any(|h| n == *h))
        }) {
            continue;
        }
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(Error::io("remove", &path))?;
    }
    if !options.quiet {
        let kept = if all {
            ""
        } else {
            " (the run log and the run cache stay; `clean --all` removes them too)"
        };
        eprintln!("removed the contents of {}{kept}", project.display(dir));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;

    #[test]
    fn clean_keeps_the_lock_file_and_the_history_unless_all() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::with_config(PipelineConfig::default(), dir.path());
        let a = &project.artifacts;
        std::fs::create_dir_all(a.join("train")).unwrap();
        std::fs::create_dir_all(a.join(hdr_artifacts::CACHE_DIR)).unwrap();
        std::fs::write(a.join("train/model.safetensors"), b"w").unwrap();
        std::fs::write(a.join(hdr_artifacts::RUN_LOG_FILE), b"").unwrap();
        let options = Options {
            quiet: true,
            wait: false,
            on_locked: None,
        };
        clean(&project, false, options).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(a)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![
            hdr_artifacts::CACHE_DIR.to_string(),
            runner_lock::FILE_NAME.to_string(),
            hdr_artifacts::RUN_LOG_FILE.to_string(),
        ];
        expected.sort();
        assert_eq!(left, expected);
        clean(&project, true, options).unwrap();
        let left: Vec<_> = std::fs::read_dir(a).unwrap().collect();
        assert_eq!(left.len(), 1, "only the runner lock's file stays");
    }

    #[test]
    fn cleaning_a_file_named_artifacts_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::with_config(PipelineConfig::default(), dir.path());
        std::fs::write(&project.artifacts, b"not a folder").unwrap();
        let err = clean(&project, false, Options::default()).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err:?}");
    }
}
