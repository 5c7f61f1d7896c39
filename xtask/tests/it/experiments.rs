//! Experiments through the `cargo xtask` binary: the run cache restores a
//! configuration seen before, every run lands in runs.jsonl, `runs` lists,
//! compares, shows and checks out runs, sweeps run a grid; and the bad inputs:
//! unknown run ids, broken run-log lines, damaged or unwritable caches,
//! ill-typed sweep values, failing sweep runs.

use crate::common::{stdout, text, Project};

fn ok(project: &Project, args: &[&str]) -> String {
    let out = project.xtask(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    text(&out)
}

fn runs_json(project: &Project) -> Vec<serde_json::Value> {
    let out = project.xtask(&["runs", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn lock(project: &Project) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(project.path("artifacts/pipeline.lock")).unwrap())
        .unwrap()
}

fn model_hash(project: &Project) -> String {
    lock(project)["stages"]["train"]["outs"]["artifacts/train/model.safetensors"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The cache's copy of the content `hash`: as is, or gzip-compressed (`.gz`).
fn object(project: &Project, hash: &str) -> std::path::PathBuf {
    let plain = project.path(&format!(
        "artifacts/.cache/objects/{}/{}",
        &hash[..2],
        &hash[2..]
    ));
    let gz = plain.with_extension("gz");
    if gz.exists() {
        gz
    } else {
        plain
    }
}

/// The content of a cached copy, decompressed when it is compressed.
fn object_bytes(path: &std::path::Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).unwrap();
        out
    } else {
        raw
    }
}

#[test]
fn a_seen_config_is_restored_and_every_run_is_recorded_and_compared() {
    let project = Project::new(300);
    let first = ok(&project, &["pipeline"]);
    assert!(first.contains("run 1 recorded: test accuracy"), "{first}");
    let model_42 = model_hash(&project);
    ok(&project, &["--set", "train.seed=7", "pipeline"]);
    assert_ne!(model_hash(&project), model_42);

    let back = ok(&project, &["pipeline"]);
    assert!(back.contains("   data: up to date"), "{back}");
    assert!(
        back.contains("  train: restored from cache (run 1)"),
        "{back}"
    );
    assert!(
        back.contains("   eval: restored from cache (run 1)"),
        "{back}"
    );
    assert!(!back.contains("running"), "{back}");
    assert_eq!(model_hash(&project), model_42);
    let status = stdout(&project.xtask(&["status"]));
    assert_eq!(status.matches("up to date").count(), 4, "{status}");
    assert!(status.contains("  cache: 7 entries, "), "{status}");
    // Nothing changed: no run is recorded.
    let again = ok(&project, &["pipeline"]);
    assert!(!again.contains("recorded"), "{again}");

    let runs = runs_json(&project);
    assert_eq!(runs.len(), 3);
    let ids: Vec<u64> = runs.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3]);
    let last = &runs[2];
    assert_eq!(last["status"], "ok");
    assert_eq!(last["config"]["train"]["seed"], 42);
    assert_eq!(last["config"]["data"]["source"], "small.csv");
    assert_eq!(last["stages"]["data"], "up_to_date");
    assert_eq!(last["stages"]["train"], "restored");
    assert_eq!(last["metrics"], runs[0]["metrics"]);
    assert_eq!(last["data_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(last["code"]["train"].as_str().unwrap().len(), 64);
    assert!(["avx512", "portable"].contains(&last["kernels"].as_str().unwrap()));
    assert!(last["train_seconds"].as_f64().unwrap() > 0.0);
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
    for name in [
        "test_accuracy",
        "test_macro_f1",
        "test_log_loss",
        "train_accuracy",
    ] {
        assert!(last["metrics"][name].is_f64(), "{name}: {last}");
    }

    let table = ok(&project, &["runs"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("train.seed"), "{table}");
    assert!(!lines[0].contains("train.epochs"), "{table}");
    assert!(
        lines[3].contains("restored: train, eval, report"),
        "{table}"
    );
    assert!(table.contains("* best test accuracy: run "), "{table}");

    let diff = ok(&project, &["runs", "diff"]);
    assert!(diff.contains("run 2 -> run 3"), "{diff}");
    assert!(diff.contains("train.seed  7 -> 42"), "{diff}");
    assert!(diff.contains("test_accuracy"), "{diff}");
    let same = ok(&project, &["runs", "diff", "1", "3"]);
    assert!(same.contains("params: the same"), "{same}");
    assert!(same.contains("(+0.0000)"), "{same}");

    let show = ok(&project, &["runs", "show", "2"]);
    assert!(show.contains("run 2  ok"), "{show}");
    assert!(show.contains("train.seed = 7"), "{show}");

    for args in [
        &["runs", "show", "99"][..],
        &["runs", "diff", "1", "99"],
        &["runs", "checkout", "99"],
    ] {
        let out = project.xtask(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out).contains("error: no run 99 in the run log (runs 1..3 are recorded"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn checkout_brings_back_a_run_and_names_gc_once_it_is_collected() {
    let project = Project::new(300);
    ok(&project, &["pipeline"]);
    let model_42 = model_hash(&project);
    ok(&project, &["--set", "train.seed=7", "pipeline"]);
    let model_7 = model_hash(&project);

    let out = ok(&project, &["runs", "checkout", "1"]);
    assert!(out.contains("artifacts/ now hold run 1's outputs"), "{out}");
    assert_eq!(model_hash(&project), model_42);
    assert_eq!(
        sha(&std::fs::read(project.path("artifacts/train/model.safetensors")).unwrap()),
        model_42
    );
    // Run 1 used pipeline.toml as it is: everything is up to date again.
    let status = stdout(&project.xtask(&["status"]));
    assert_eq!(status.matches("up to date").count(), 4, "{status}");

    // gc keeps what the lock needs; run 2's train outputs go.
    let gc = ok(&project, &["gc", "--keep", "0"]);
    assert!(gc.contains("gc: removed 3 cache entries"), "{gc}");
    assert!(!object(&project, &model_7).exists());
    assert!(object(&project, &model_42).exists());
    let out = project.xtask(&["runs", "checkout", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out);
    assert!(
        said.contains("run 2's `train` outputs are no longer in the cache")
            && said.contains("cargo xtask gc"),
        "{said}"
    );
    assert_eq!(
        model_hash(&project),
        model_42,
        "a failed checkout changed the artifacts"
    );

    // clean keeps the history; clean --all removes it.
    ok(&project, &["clean"]);
    assert_eq!(runs_json(&project).len(), 2);
    let back = ok(&project, &["pipeline"]);
    assert!(
        back.contains("  train: restored from cache (run 1)"),
        "{back}"
    );
    ok(&project, &["clean", "--all"]);
    assert!(!project.path("artifacts/.cache").exists());
    assert!(!project.path("artifacts/runs.jsonl").exists());
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_damaged_cache_entry_is_discarded_with_a_warning_and_the_stage_recomputes() {
    let project = Project::new(300);
    ok(&project, &["pipeline"]);
    let model_42 = model_hash(&project);
    ok(&project, &["--set", "train.seed=7", "pipeline"]);
    let copy = object(&project, &model_42);
    let mut bytes = object_bytes(&copy);
    bytes[100] ^= 0xff;
    if copy.extension().is_some_and(|e| e == "gz") {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, &bytes).unwrap();
        bytes = encoder.finish().unwrap();
    }
    std::fs::write(&copy, bytes).unwrap();

    let back = ok(&project, &["pipeline"]);
    assert!(
        back.contains("warning: train: the cached outputs are damaged (artifacts/train/model.safetensors's copy")
            && back.contains("no longer matches its hash); discarded, the stage reruns"),
        "{back}"
    );
    assert!(
        back.contains("  train: running (`train.seed` changed: 7 -> 42)"),
        "{back}"
    );
    // Same seed, same config, same data: the same bytes again, and a sound copy in the cache.
    assert_eq!(model_hash(&project), model_42);
    assert_eq!(sha(&object_bytes(&object(&project, &model_42))), model_42);
}

#[test]
fn an_unwritable_cache_warns_and_the_run_still_succeeds() {
    let project = Project::new(300);
    std::fs::create_dir_all(project.path("artifacts")).unwrap();
    // A file where the cache's folder should be: nothing can be stored in it.
    std::fs::write(project.path("artifacts/.cache"), "not a folder").unwrap();
    let out = ok(&project, &["pipeline"]);
    assert!(
        out.contains("warning: could not store data's outputs in the run cache (")
            && out.contains("the run goes on"),
        "{out}"
    );
    assert!(out.contains("run 1 recorded: test accuracy"), "{out}");
    let status = stdout(&project.xtask(&["status"]));
    assert_eq!(status.matches("up to date").count(), 4, "{status}");
}

#[test]
fn a_broken_run_log_line_is_skipped_naming_its_number() {
    let project = Project::new(300);
    ok(&project, &["pipeline"]);
    ok(&project, &["--set", "train.seed=7", "pipeline"]);
    let path = project.path("artifacts/runs.jsonl");
    let log = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // Line 1 edited by hand, line 3 cut short.
    let edited = format!(
        "{}\n{}\n{}",
        lines[0].replace("\"id\":1", "\"id\":\"one\""),
        lines[1],
        &lines[1][..40]
    );
    std::fs::write(&path, edited).unwrap();
    let out = project.xtask(&["runs"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("warning: artifacts/runs.jsonl line 1: not a run record"),
        "{said}"
    );
    assert!(
        said.contains("warning: artifacts/runs.jsonl line 3: not a run record"),
        "{said}"
    );
    let table = stdout(&out);
    assert_eq!(
        table.lines().filter(|l| l.contains("ok")).count(),
        1,
        "{table}"
    );
    // The next run still gets its own line and a fresh id.
    let next = ok(&project, &["pipeline"]);
    assert!(next.contains("run 3 recorded"), "{next}");
    assert_eq!(runs_json(&project).len(), 2);
}

#[test]
fn a_sweep_runs_the_grid_reusing_the_cache_and_ends_with_its_table() {
    let project = Project::new(300);
    let out = ok(
        &project,
        &[
            "pipeline",
            "--sweep",
            "train.dropout=0.2,0.4",
            "--sweep",
            "train.learning_rate=0.002,0.004",
        ],
    );
    assert!(out.contains("sweep: 4 runs"), "{out}");
    for (i, point) in [
        "train.dropout=0.2 train.learning_rate=0.002",
        "train.dropout=0.2 train.learning_rate=0.004",
        "train.dropout=0.4 train.learning_rate=0.002",
        "train.dropout=0.4 train.learning_rate=0.004",
    ]
    .iter()
    .enumerate()
    {
        let line = format!("run {} [{}/4]  {point}  test accuracy ", i + 1, i + 1);
        assert!(out.contains(&line), "{line} not in {out}");
    }
    // One line per run: no stage chatter.
    assert!(!out.contains("running ("), "{out}");
    let runs = runs_json(&project);
    assert_eq!(runs.len(), 4);
    let data_ran: Vec<&serde_json::Value> = runs.iter().map(|r| &r["stages"]["data"]).collect();
    assert_eq!(data_ran, ["ran", "up_to_date", "up_to_date", "up_to_date"]);
    assert_eq!(runs[3]["config"]["train"]["dropout"], 0.4);
    let table_header = out.lines().find(|l| l.starts_with("run  ")).unwrap();
    assert!(
        table_header.contains("train.dropout") && table_header.contains("train.learning_rate"),
        "{out}"
    );

    // Again: every run comes from the cache.
    let again = ok(&project, &["pipeline", "--sweep", "train.dropout=0.2,0.4"]);
    assert!(again.contains("restored: train, eval, report"), "{again}");

    // A value of the wrong type is refused before anything runs.
    let before = std::fs::read_to_string(project.path("artifacts/runs.jsonl")).unwrap();
    let bad = project.xtask(&["pipeline", "--sweep", "train.dropout=0.3,high"]);
    assert_eq!(bad.status.code(), Some(1));
    let said = text(&bad);
    assert!(
        said.contains("`train.dropout`") && said.contains("expected a number"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(project.path("artifacts/runs.jsonl")).unwrap(),
        before
    );
}

#[test]
fn a_failing_sweep_run_is_recorded_and_the_sweep_goes_on() {
    let project = Project::new(300);
    let out = project.xtask(&["pipeline", "--sweep", "data.source=missing.csv,small.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("run 1 [1/2]  data.source=missing.csv  FAILED"),
        "{said}"
    );
    assert!(
        said.contains("run 2 [2/2]  data.source=small.csv  test accuracy"),
        "{said}"
    );
    assert!(said.contains("error: 1 of 2 sweep runs failed"), "{said}");
    let runs = runs_json(&project);
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["stages"]["data"], "failed");
    assert!(runs[0]["error"].as_str().unwrap().contains("missing.csv"));
    assert_eq!(runs[1]["status"], "ok");
    let table = stdout(&project.xtask(&["runs"]));
    assert!(table.contains("failed"), "{table}");
    assert!(table.lines().nth(2).unwrap().starts_with("*2"), "{table}");
}
