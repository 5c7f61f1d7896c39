//! [`run`]: the data stage from source file to split files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hdr_artifacts::{
    encode_split, write_summary, DataSummary, ExtraTestSummary, SplitSummary, TestSource,
    UserSamplesSummary, EXTRA_TEST_PREFIX,
};
use hdr_common::{OutputSet, Progress, RunOptions};

use crate::{source, stratified_split, Config, Error};

/// The files the data stage writes: `artifacts/data/{train,test}.parquet` and
/// `summary.json`.
pub type Paths = hdr_artifacts::DataFiles;

/// What a data-stage run produced.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The files written.
    pub files: Vec<PathBuf>,
    /// What summary.json says.
    pub summary: DataSummary,
}

/// Runs the data stage: load `config.source`, validate, split, write `paths`.
///
/// Nothing under `paths` changes unless every file was written. When a stop is
/// requested ([`hdr_common::check_stop`]) it returns [`Error::Interrupted`]
/// at the next step (after loading, splitting and encoding, and before the
/// files are moved into place), leaving no temporary file.
pub fn run(config: &Config, paths: &Paths, opts: &RunOptions) -> Result<Outputs, Error> {
    let started = Instant::now();
    config.validate()?;
    let progress = Progress::new(opts.quiet);
    let spinner = progress.spinner(&format!("data: loading {}", config.source.display()));

    let loaded = source::load_labelled_frame(&config.source)?;
    let source_name = config.source.display().to_string();
    // A file read beside the source must have the source's columns; its
    // errors are wrapped in `unreadable`, a mismatch is `mismatch(path, source)`.
    let load_beside = |path: &Path,
                       unreadable: fn(Box<Error>) -> Error,
                       mismatch: fn(PathBuf, PathBuf) -> Error| {
        spinner.set_message(format!("data: loading {}", path.display()));
        let other = source::load_labelled_frame(path).map_err(|e| unreadable(Box::new(e)))?;
        if other.frame.get_column_names() != loaded.frame.get_column_names() {
            return Err(mismatch(path.to_path_buf(), config.source.clone()));
        }
        Ok(other)
    };
    let test_loaded = config
        .test_source
        .as_deref()
        .map(|path| {
            load_beside(
                path,
                |source| Error::TestSource { source },
                |path, data_source| Error::TestSourceColumns { path, data_source },
            )
        })
        .transpose()?;
    let user_path = config.user_samples_file();
    let user_loaded = user_path
        .map(|path| {
            load_beside(
                path,
                |source| Error::UserSamples { source },
                |path, data_source| Error::UserSamplesColumns { path, data_source },
            )
        })
        .transpose()?;
    let extra_loaded = config
        .extra_tests()
        .into_iter()
        .map(|(name, path)| {
            let set = load_beside(
                path,
                |source| Error::ExtraTestSource { source },
                |path, data_source| Error::ExtraTestSourceColumns { path, data_source },
            )?;
            hdr_common::check_stop()?;
            Ok((name, path, set))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    hdr_common::check_stop()?;

    spinner.set_message(format!("data: splitting {} rows", loaded.labels.len()));
    let split = match &test_loaded {
        // A fixed test set: every source row trains, every test-source row tests.
        Some(_) => hdr_common::Split {
            kept: (0..loaded.labels.len() as u32).collect(),
            held_out: Vec::new(),
        },
        None => stratified_split(&loaded.labels, config.test_fraction, config.seed),
    };
    let test_frame = test_loaded.as_ref().map_or(&loaded.frame, |t| &t.frame);
    let test_labels = test_loaded.as_ref().map_or(&loaded.labels, |t| &t.labels);
    let all_test_rows: Vec<u32>;
    let (train_rows, test_rows) = match &test_loaded {
        Some(t) => {
            all_test_rows = (0..t.labels.len() as u32).collect();
            (&split.kept, &all_test_rows)
        }
        None => (&split.kept, &split.held_out),
    };
    for (name, rows) in [("train", train_rows), ("test", test_rows)] {
        if rows.is_empty() {
            return Err(Error::EmptySplit {
                path: config.source.clone(),
                split: name,
                rows: loaded.labels.len(),
                test_fraction: config.test_fraction,
            });
        }
    }
    if let Some(path) = &config.test_source {
        progress.line(format!(
            "data: data.test_fraction is ignored: the test split is data.test_source {}",
            path.display()
        ));
    }

    // The user's digits are split like the source, so each label with
    // enough of them is scored on some the model never trained on.
    let user_split = user_loaded.as_ref().map_or_else(
        || hdr_common::Split {
            kept: Vec::new(),
            held_out: Vec::new(),
        },
        |user| stratified_split(&user.labels, config.test_fraction, config.seed),
    );
    let user_frame = user_loaded.as_ref().map_or(&loaded.frame, |u| &u.frame);

    hdr_common::check_stop()?;
    spinner.set_message("data: writing parquet".to_string());
    let mut outputs = OutputSet::new();
    // Encode both splits at once: the parquet writer is only partly parallel.
    let (train_bytes, test_bytes) = std::thread::scope(|scope| {
        let train = scope.spawn(|| encode_split(&paths.train, &loaded.frame, train_rows));
        let test = encode_split(&paths.test, test_frame, test_rows);
        (train.join(), test)
    });
    let train_bytes = train_bytes.map_err(|_| Error::Panicked {
        thread: "parquet encoding",
    })??;
    hdr_common::check_stop()?;
    let cannot_write = |path: &PathBuf| {
        let path = path.clone();
        move |source: std::io::Error| Error::Write { path, source }
    };
    outputs
        .write(&paths.train, &train_bytes)
        .map_err(cannot_write(&paths.train))?;
    outputs
        .write(&paths.test, &test_bytes?)
        .map_err(cannot_write(&paths.test))?;
    for (path, rows) in [
        (&paths.user_train, &user_split.kept),
        (&paths.user_test, &user_split.held_out),
    ] {
        let bytes = encode_split(path, user_frame, rows)?;
        outputs.write(path, &bytes).map_err(cannot_write(path))?;
    }
    let mut extra_tests = Vec::new();
    for (name, path, set) in &extra_loaded {
        let file = paths.extra_test(name);
        let every_row: Vec<u32> = (0..set.labels.len() as u32).collect();
        let bytes = encode_split(&file, &set.frame, &every_row)?;
        outputs.write(&file, &bytes).map_err(cannot_write(&file))?;
        extra_tests.push(ExtraTestSummary {
            name: name.clone(),
            path: path.display().to_string(),
            sha256: set.sha256.clone(),
            test: SplitSummary::of(&set.labels, &every_row),
        });
    }
    drop(loaded.frame);

    let summary = DataSummary {
        source: source_name,
        source_sha256: loaded.sha256,
        source_rows: loaded.labels.len(),
        test_source: config
            .test_source
            .as_ref()
            .zip(test_loaded.as_ref())
            .map(|(path, t)| TestSource {
                path: path.display().to_string(),
                sha256: t.sha256.clone(),
            }),
        test_fraction: config.test_fraction,
        seed: config.seed,
        train: SplitSummary::of(&loaded.labels, train_rows),
        test: SplitSummary::of(test_labels, test_rows),
        user_samples: user_path
            .zip(user_loaded.as_ref())
            .map(|(path, user)| UserSamplesSummary {
                path: path.display().to_string(),
                sha256: user.sha256.clone(),
                train: SplitSummary::of(&user.labels, &user_split.kept),
                test: SplitSummary::of(&user.labels, &user_split.held_out),
            }),
        extra_tests,
        seconds: started.elapsed().as_secs_f64(),
    };
    outputs
        .write_with(&paths.summary, |w| write_summary(w, &summary))
        .map_err(cannot_write(&paths.summary))?;
    hdr_common::check_stop()?;
    let files = outputs.commit().map_err(|source| Error::MoveIntoPlace {
        dir: paths.dir.clone(),
        source,
    })?;
    // Sets no longer configured would otherwise still be scored.
    hdr_common::remove_others_with_prefix(&paths.dir, EXTRA_TEST_PREFIX, &files).map_err(
        |source| Error::Write {
            path: paths.dir.clone(),
            source,
        },
    )?;
    spinner.finish_and_clear();
    progress.line(format!(
        "data: {} rows from {} -> train {} / test {} in {:.2}s",
        summary.source_rows, summary.source, summary.train.rows, summary.test.rows, summary.seconds
    ));
    if let Some(user) = &summary.user_samples {
        progress.line(format!(
            "data: {} of your digits from {} -> train {} / test {}",
            user.train.rows + user.test.rows,
            user.path,
            user.train.rows,
            user.test.rows
        ));
    }
    for extra in &summary.extra_tests {
        progress.line(format!(
            "data: {} digits from {} -> extra test set {}",
            extra.test.rows, extra.path, extra.name
        ));
    }
    Ok(Outputs { files, summary })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn paths_live_under_artifacts_data() {
        let paths = Paths::under(Path::new("artifacts"));
        assert_eq!(paths.train, Path::new("artifacts/data/train.parquet"));
        assert_eq!(paths.test, Path::new("artifacts/data/test.parquet"));
        assert_eq!(paths.summary, Path::new("artifacts/data/summary.json"));
    }
}
