//! The workspace's `rust-version` is the true minimum: the highest
//! `rust-version` any locked dependency declares (our own code needs less).

use std::process::Command;

use serde_json::Value;

/// "1.88.0" or "1.88" as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text.split('.').map(|p| p.parse().unwrap()).collect();
    parts.resize(3, 0);
    parts
}

/// The host's target triple, as cargo reports it.
fn host_triple() -> String {
    let out = Command::new(env!("CARGO"))
        .arg("-vV")
        .output()
        .expect("run cargo -vV");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("cargo -vV names the host")
        .to_string()
}

#[test]
fn rust_version_is_the_highest_any_locked_dependency_declares() {
    // Only the host's dependencies: a fresh offline machine has not fetched
    // crates that other targets alone need (ndarray's portable-atomic-util).
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let mut ours: Option<Vec<u64>> = None;
    let mut highest: Option<(Vec<u64>, String)> = None;
    for package in meta["packages"].as_array().unwrap() {
        let is_member = members.contains(&package["id"].as_str().unwrap());
        let Some(declared) = package["rust_version"].as_str() else {
            assert!(
                !is_member,
                "{} declares no rust-version: add `rust-version.workspace = true`",
                package["name"]
            );
            continue;
        };
        let v = version(declared);
        if is_member {
            if let Some(o) = &ours {
                assert_eq!(o, &v, "{} declares another rust-version", package["name"]);
            }
            ours = Some(v);
            continue;
        }
        if highest.as_ref().is_none_or(|(h, _)| v > *h) {
            highest = Some((v, format!("{} {}", package["name"], package["version"])));
        }
    }
    let ours = ours.expect("the workspace declares a rust-version");
    let (highest, who) = highest.expect("some dependency declares a rust-version");
    assert_eq!(
        ours, highest,
        "workspace rust-version {ours:?} is not the locked minimum {highest:?} (set by {who}); \
         update Cargo.toml's rust-version and its comment"
    );
}
