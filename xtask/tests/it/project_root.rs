//! `cargo xtask` finds its project from any folder of it, like cargo: the
//! same commands from the root, from `crates/` and from a nested folder give
//! the same result, on the root's pipeline.toml and artifacts/.

use std::process::Output;

use crate::common::{stdout, text, Project};

const FOLDERS: [&str; 3] = ["", "crates", "crates/hdr-data/src"];

/// What a run said: its exit code, stdout, and the runner's lines and errors
/// on stderr, less what differs between runs (seconds taken; progress).
fn result(output: &Output) -> (Option<i32>, String) {
    // The runner's own lines, its stage names right-aligned ("   data: running").
    let runner_line = |l: &&str| {
        let prefixes = [
            "   data: ",
            "  train: ",
            "   eval: ",
            " report: ",
            "error: ",
            "  caused by: ",
        ];
        prefixes.iter().any(|p| l.starts_with(p))
    };
    let said: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(runner_line)
        .map(|l| match l.find("done in") {
            Some(at) => l[..at].to_string(),
            None => l.to_string(),
        })
        .collect();
    (
        output.status.code(),
        format!("{}{}", stdout(output), said.join("\n")),
    )
}

/// Runs `args` from every folder; each must give the root's result.
fn same_everywhere(project: &Project, args: &[&str]) -> String {
    let outputs: Vec<Output> = FOLDERS.iter().map(|f| project.xtask_in(f, args)).collect();
    let root = result(&outputs[0]);
    for (folder, output) in FOLDERS.iter().zip(&outputs).skip(1) {
        assert_eq!(
            result(output),
            root,
            "`cargo xtask {}` from {folder}/ differs from the root",
            args.join(" ")
        );
    }
    root.1
}

#[test]
fn every_command_finds_the_project_from_any_folder() {
    let project = Project::workspace(300);
    let abs = |rel: &str| project.path(rel).to_str().unwrap().to_string();

    // The first run, from deep inside: the root's config and artifacts.
    let first = project.xtask_in("crates/hdr-data/src", &["pipeline"]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        String::from_utf8_lossy(&first.stderr).starts_with("using ../../../pipeline.toml\n"),
        "{}",
        text(&first)
    );
    assert!(project.path("artifacts/pipeline.lock").exists());
    for stray in ["crates/artifacts", "crates/hdr-data/src/artifacts"] {
        assert!(!project.path(stray).exists(), "{stray} was created");
    }
    let root_run = project.xtask_in("", &["status"]);
    assert!(
        !text(&root_run).contains("using "),
        "no note at the root: {}",
        text(&root_run)
    );
    assert!(
        text(&project.xtask_in("crates", &["status"])).contains("using ../pipeline.toml\n"),
        "the note names the config file"
    );

    let status = same_everywhere(&project, &["status"]);
    assert_eq!(status.matches("up to date").count(), 4, "{status}");
    let rerun = same_everywhere(&project, &["pipeline"]);
    assert_eq!(rerun.matches("up to date").count(), 4, "{rerun}");
    let dry = same_everywhere(&project, &["--set", "data.seed=7", "pipeline", "--dry-run"]);
    assert_eq!(dry.matches("would run").count(), 4, "{dry}");
    let stale = same_everywhere(&project, &["--set", "train.epochs=2", "status"]);
    assert!(stale.contains("`train.epochs` changed: 1 -> 2"), "{stale}");
    same_everywhere(&project, &["--quiet", "--set", "train.epochs=2", "status"]);
    let config = same_everywhere(&project, &["config", "--json"]);
    assert!(config.contains(&abs("pipeline.toml")), "{config}");
    same_everywhere(&project, &["config"]);
    // Each stage forced, in order, from each folder: every folder starts from
    // the same up-to-date state and ends in it.
    let stages = ["data", "train", "eval", "report"];
    let forced: Vec<Vec<(Option<i32>, String)>> = FOLDERS
        .iter()
        .map(|folder| {
            let runs = stages.map(|stage| result(&project.xtask_in(folder, &[stage, "--force"])));
            runs.to_vec()
        })
        .collect();
    for (stage, run) in stages.iter().zip(&forced[0]) {
        assert_eq!(run.0, Some(0), "{stage}: {}", run.1);
        assert!(run.1.contains(&format!("{stage}: running (")), "{}", run.1);
    }
    assert_eq!(
        forced[1], forced[0],
        "stages from crates/ differ from the root"
    );
    assert_eq!(
        forced[2], forced[0],
        "stages from a nested folder differ from the root"
    );
    let predicted = same_everywhere(
        &project,
        &[
            "predict",
            "--csv",
            &abs("small.csv"),
            "-o",
            &abs("submission.csv"),
        ],
    );
    assert!(predicted.contains("accuracy: "), "{predicted}");
    let help = same_everywhere(&project, &["status", "--help"]);
    assert!(help.contains("Examples:"), "{help}");

    // An explicit --config stays relative to the current folder.
    let explicit = project.xtask_in(
        "crates",
        &["--config", "../pipeline.toml", "config", "--json"],
    );
    assert!(explicit.status.success(), "{}", text(&explicit));
    assert!(!text(&explicit).contains("using "), "{}", text(&explicit));
    let missing = project.xtask_in("crates", &["--config", "pipeline.toml", "status"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("pipeline.toml does not exist"),
        "{}",
        text(&missing)
    );

    // clean from a subfolder empties the root's artifacts, and everything is stale again.
    let cleaned = project.xtask_in("crates", &["clean"]);
    assert!(cleaned.status.success(), "{}", text(&cleaned));
    assert!(!project.path("artifacts/pipeline.lock").exists());
    let status = same_everywhere(&project, &["status"]);
    assert_eq!(status.matches("never run").count(), 4, "{status}");
}

#[test]
fn config_shows_each_value_and_where_it_comes_from() {
    let project = Project::workspace(10);
    let out = project.xtask_in("crates", &["--set", "train.epochs=3", "config"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    // It is TOML, and the configuration in force.
    let table: toml::Table = shown.parse().unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(table["train"]["epochs"].as_integer(), Some(3));
    assert_eq!(table["data"]["source"].as_str(), Some("small.csv"));
    assert_eq!(table["eval"]["batch_size"].as_integer(), Some(1000));
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in\n{shown}"))
            .to_string()
    };
    assert!(line("epochs").ends_with("# --set (default 45)"), "{shown}");
    assert!(
        line("batch_size").contains("# file (default 128)"),
        "{shown}"
    );
    assert!(
        line("source").ends_with("# file (default \"data/mnist-sample.csv.gz\")"),
        "{shown}"
    );
    assert!(line("seed").ends_with("# file"), "{shown}");
    assert!(line("mistakes").ends_with("# default"), "{shown}");
    assert!(
        shown.contains(project.path("pipeline.toml").to_str().unwrap()),
        "{shown}"
    );

    let out = project.xtask_in("", &["--set", "train.epochs=3", "config", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epochs = &json["sections"]["train"]["epochs"];
    assert_eq!(epochs["value"], 3);
    assert_eq!(epochs["default"], 45);
    assert_eq!(epochs["from"], "--set");
    assert_eq!(json["sections"]["train"]["batch_size"]["from"], "file");
    assert_eq!(json["sections"]["report"]["mistakes"]["from"], "default");
    assert_eq!(
        json["file"],
        project.path("pipeline.toml").to_str().unwrap()
    );

    // Without a pipeline.toml, the defaults, and it says so.
    std::fs::remove_file(project.path("pipeline.toml")).unwrap();
    let out = project.xtask_in("crates", &["config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("using the defaults (../pipeline.toml does not exist)"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("epochs = 45"), "{}", text(&out));

    // A bad override is refused naming the key.
    let out = project.xtask_in("", &["--set", "train.epoch=3", "config"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown key `train.epoch`"),
        "{}",
        text(&out)
    );
}
