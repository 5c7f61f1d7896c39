//! Accepted CSV variants, the real MNIST sample and the written artifacts.

use crate::common::*;
use hdr_common::RunOptions;
use hdr_data::{
    load_csv, read_split, run, stratified_split, Config, Dataset, LabelColumn, IMAGE_PIXELS,
};

const QUIET: RunOptions = RunOptions { quiet: true };

fn as_dataset(rows: &[(u8, Vec<u8>)]) -> Dataset {
    Dataset {
        labels: rows.iter().map(|r| r.0).collect(),
        pixels: rows.iter().flat_map(|r| r.1.iter().copied()).collect(),
    }
}

/// Rewrites CSV text with columns reordered by `order` (indices into the old columns).
fn reorder_columns(text: &str, order: &[usize]) -> String {
    text.lines()
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            order
                .iter()
                .map(|&i| cells[i])
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect()
}

#[test]
fn variants_of_the_same_data_load_identically() {
    let rows = rows(23);
    let expected = as_dataset(&rows);
    let plain = csv_text(&rows);
    let crlf = plain.replace('\n', "\r\n");
    let bom = format!("\u{feff}{crlf}");
    let one_based = plain.replacen(&header(0).join(","), &header(1).join(","), 1);
    // Pixels backwards, label in the middle.
    let mut order: Vec<usize> = (1..=IMAGE_PIXELS).rev().collect();
    order.insert(400, 0);
    let shuffled = reorder_columns(&plain, &order);
    let no_final_newline = plain.trim_end().to_string();

    let scratch = Scratch::new();
    for (name, bytes) in [
        ("plain.csv", plain.as_bytes().to_vec()),
        ("crlf.csv", crlf.as_bytes().to_vec()),
        ("bom.csv", bom.as_bytes().to_vec()),
        ("one_based.csv", one_based.as_bytes().to_vec()),
        ("shuffled.csv", shuffled.as_bytes().to_vec()),
        ("no_final_newline.csv", no_final_newline.as_bytes().to_vec()),
        ("plain.csv.gz", gzip(plain.as_bytes())),
        ("crlf_bom.csv.gz", gzip(bom.as_bytes())),
    ] {
        let path = scratch.write(name, bytes);
        let images =
            load_csv(&path, LabelColumn::Required).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(images.labels.as_ref(), Some(&expected.labels), "{name}");
        assert!(images.pixels == expected.pixels, "{name}: pixels differ");
    }
}

#[test]
fn unlabelled_test_csv_loads_with_optional_labels() {
    let rows = rows(12);
    let text: String = csv_text(&rows)
        .lines()
        .map(|l| l.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    let scratch = Scratch::new();
    let path = scratch.write("test.csv", text);
    let images = load_csv(&path, LabelColumn::Optional).unwrap();
    assert_eq!(images.labels, None);
    assert_eq!(images.len(), 12);
    assert!(images.pixels == as_dataset(&rows).pixels);
    let err = load_csv(&path, LabelColumn::Required).unwrap_err();
    assert!(
        matches!(&err, hdr_data::Error::NoLabelColumn { path: p } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("no `label` column"), "{err}");
}

#[test]
fn run_writes_splits_that_read_back_exactly() {
    let rows = rows(60);
    let all = as_dataset(&rows);
    let scratch = Scratch::new();
    let source = scratch.write("train.csv", csv_text(&rows));
    let paths = scratch.paths();
    let config = Config {
        source: source.clone(),
        test_source: None,
        user_samples: std::path::PathBuf::new(),
        extra_test_sources: Vec::new(),
        test_fraction: 0.25,
        seed: 9,
    };
    let outputs = run(&config, &paths, &QUIET).unwrap();
    assert_eq!(
        outputs.files,
        vec![
            paths.train.clone(),
            paths.test.clone(),
            paths.user_train.clone(),
            paths.user_test.clone(),
            paths.summary.clone()
        ]
    );

    let split = stratified_split(&all.labels, 0.25, 9);
    for (path, rows) in [(&paths.train, &split.kept), (&paths.test, &split.held_out)] {
        let back = read_split(path).unwrap();
        assert_eq!(back.len(), rows.len());
        for (i, &r) in rows.iter().enumerate() {
            assert_eq!(back.labels[i], all.labels[r as usize]);
            assert_eq!(back.image(i), all.image(r as usize));
        }
    }
    let summary = hdr_artifacts::read_summary(&paths.summary).unwrap();
    assert_eq!(summary, outputs.summary);
    assert_eq!(summary.source_rows, 60);
    // 6 rows per class; round(6 * 0.25) = round(1.5) = 2 go to test.
    assert_eq!(summary.test.rows, 20);
    assert_eq!(summary.test.class_counts, [2; 10]);
    assert_eq!(summary.train.class_counts, [4; 10]);
    assert_eq!(
        summary.source_sha256,
        hdr_common::sha256_file(&source).unwrap()
    );
}

#[test]
fn same_seed_same_files() {
    let scratch = Scratch::new();
    let source = scratch.write("train.csv", csv_text(&rows(40)));
    let first = Scratch::new();
    let second = Scratch::new();
    let config = Config {
        source,
        test_source: None,
        user_samples: std::path::PathBuf::new(),
        extra_test_sources: Vec::new(),
        test_fraction: 0.5,
        seed: 3,
    };
    run(&config, &first.paths(), &QUIET).unwrap();
    run(&config, &second.paths(), &QUIET).unwrap();
    for (a, b) in [
        (first.paths().train, second.paths().train),
        (first.paths().test, second.paths().test),
    ] {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}

#[test]
fn idx_pair_as_source() {
    let rows = rows(20);
    let data = as_dataset(&rows);
    let scratch = Scratch::new();
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend_from_slice(&data.pixels);
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 20];
    labels.extend_from_slice(&data.labels);
    let source = scratch.write("train-images-idx3-ubyte.gz", gzip(&images));
    scratch.write("train-labels-idx1-ubyte.gz", gzip(&labels));
    let paths = scratch.paths();
    run(
        &Config {
            source,
            test_source: None,
            user_samples: std::path::PathBuf::new(),
            extra_test_sources: Vec::new(),
            test_fraction: 0.5,
            seed: 1,
        },
        &paths,
        &QUIET,
    )
    .unwrap();
    let split = stratified_split(&data.labels, 0.5, 1);
    let train = read_split(&paths.train).unwrap();
    assert_eq!(train.image(0), data.image(split.kept[0] as usize));
}

#[test]
fn real_mnist_sample() {
    let sample = sample_path();
    let images = load_csv(&sample, LabelColumn::Required).unwrap();
    let data = Dataset {
        labels: images.labels.unwrap(),
        pixels: images.pixels,
    };
    assert_eq!(data.len(), 10_000);
    assert_eq!(data.pixels.len(), 10_000 * IMAGE_PIXELS);
    let counts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    assert_eq!(data.class_counts(), counts);

    let scratch = Scratch::new();
    let paths = scratch.paths();
    let config = Config {
        source: sample.clone(),
        ..Config::default()
    };
    let outputs = run(&config, &paths, &QUIET).unwrap();
    let summary = outputs.summary;
    assert_eq!((summary.train.rows, summary.test.rows), (8000, 2000));
    for (c, &count) in counts.iter().enumerate() {
        let expected_test = (count as f64 * 0.2).round() as usize;
        assert_eq!(summary.test.class_counts[c], expected_test, "class {c}");
        assert_eq!(
            summary.train.class_counts[c],
            count - expected_test,
            "class {c}"
        );
    }
    let train = read_split(&paths.train).unwrap();
    let test = read_split(&paths.test).unwrap();
    assert_eq!((train.len(), test.len()), (8000, 2000));
    let split = stratified_split(&data.labels, 0.2, 42);
    for (i, &r) in split.held_out.iter().enumerate().step_by(97) {
        assert_eq!(test.image(i), data.image(r as usize));
        assert_eq!(test.labels[i], data.labels[r as usize]);
    }
    assert_eq!(train.class_counts(), summary.train.class_counts);
}

#[test]
fn the_users_digits_are_split_like_the_source_and_written_beside_it() {
    let scratch = Scratch::new();
    let source = scratch.write("train.csv", csv_text(&rows(40)));
    let paths = scratch.paths();
    let config = Config {
        user_samples: scratch.path("my-digits.csv"),
        ..scratch.config(&source, 0.25)
    };
    // No file yet: none of the user's digits, and empty splits for them.
    let outputs = run(&config, &paths, &QUIET).unwrap();
    assert_eq!(outputs.summary.user_samples, None);
    assert!(read_split(&paths.user_train).unwrap().is_empty());
    assert!(read_split(&paths.user_test).unwrap().is_empty());

    // 25 digits: labels 0-4 three times, 5-9 twice; each label keeps at
    // least one to train on.
    let mine = rows(25);
    scratch.write("my-digits.csv", csv_text(&mine));
    let outputs = run(&config, &paths, &QUIET).unwrap();
    let user = outputs.summary.user_samples.expect("the file exists");
    let train = read_split(&paths.user_train).unwrap();
    let test = read_split(&paths.user_test).unwrap();
    assert_eq!(train.len() + test.len(), 25);
    assert_eq!((user.train.rows, user.test.rows), (train.len(), test.len()));
    let split = stratified_split(&as_dataset(&mine).labels, 0.25, config.seed);
    assert_eq!(test.len(), split.held_out.len());
    for (&row, i) in split.held_out.iter().zip(0..) {
        assert_eq!(test.image(i), &mine[row as usize].1[..]);
        assert_eq!(test.labels[i], mine[row as usize].0);
    }
    for class in 0..10 {
        assert!(train.class_counts()[class] >= 1, "every label trains");
    }
    // The source's own splits are what they were without the user's digits.
    assert_eq!(outputs.summary.train.rows + outputs.summary.test.rows, 40);
    assert!(user.path.ends_with("my-digits.csv"));
}

/// A dark bar on white paper, as a scan of a "1" would show it.
fn write_scan_of_a_one(path: &std::path::Path) {
    use hdr_image::image::{GrayImage, Luma};
    let bar = GrayImage::from_fn(40, 48, |x, y| {
        let ink = (17..23).contains(&x) && (6..42).contains(&y);
        Luma([if ink { 10 } else { 250 }])
    });
    bar.save(path).unwrap();
}

#[test]
fn extra_test_sources_are_written_whole_beside_the_splits_and_dropped_when_unlisted() {
    let scratch = Scratch::new();
    let source = scratch.write("train.csv", csv_text(&rows(40)));
    let others = rows(12);
    let csv = scratch.write("others.csv.gz", gzip(csv_text(&others).as_bytes()));
    let folder = scratch.path("scans");
    std::fs::create_dir_all(folder.join("1")).unwrap();
    write_scan_of_a_one(&folder.join("1/a.png"));
    write_scan_of_a_one(&folder.join("b_1.png"));
    let paths = scratch.paths();
    let config = Config {
        extra_test_sources: vec![csv.clone(), folder.clone()],
        ..scratch.config(&source, 0.25)
    };
    let outputs = run(&config, &paths, &QUIET).unwrap();
    let names: Vec<&str> = outputs
        .summary
        .extra_tests
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["others", "scans"]);
    let every = read_split(&paths.extra_test("others")).unwrap();
    assert_eq!(
        every.labels,
        as_dataset(&others).labels,
        "every row, in order"
    );
    assert_eq!(every.image(3), &others[3].1[..]);
    let scans = read_split(&paths.extra_test("scans")).unwrap();
    assert_eq!(scans.labels, [1, 1]);
    // The folder's images are what predict reads in them.
    let expected = hdr_image::prepare_file(&folder.join("1/a.png")).unwrap();
    assert_eq!(scans.image(0), &expected[..]);
    assert_eq!(outputs.summary.extra_tests[1].test.class_counts[1], 2);
    assert_eq!(
        outputs.summary.extra_tests[1].sha256,
        hdr_common::sha256_input(&folder).unwrap()
    );
    // The source's splits are untouched by them.
    assert_eq!(outputs.summary.train.rows + outputs.summary.test.rows, 40);

    let fewer = Config {
        extra_test_sources: vec![csv],
        ..config
    };
    run(&fewer, &paths, &QUIET).unwrap();
    let listed: Vec<String> = paths
        .extra_tests()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        listed,
        ["others"],
        "a set no longer listed is not left behind"
    );
}
