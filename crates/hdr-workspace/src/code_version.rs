//! A stage's code version, derived from the workspace rather than listed:
//! the sha256 of its crate, of every workspace crate it depends on
//! (transitively, from the manifests' path and `workspace = true`
//! dependencies), of the workspace settings those crates inherit, and of the
//! `Cargo.lock` entries of every package they pull in.
//!
//! Runs in hdr-pipeline's `build.rs`, which bakes one hash per stage into
//! the runner; the unit tests run it on temporary workspaces.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::workspace::{read_manifest, MANIFEST};
use crate::Error;

/// The crate that implements each stage: the one mapping written by hand.
pub const STAGE_CRATES: &[(&str, &str)] = &[
    ("data", "hdr-data"),
    ("train", "hdr-train"),
    ("eval", "hdr-eval"),
    ("report", "hdr-report"),
];

/// Folders of a crate that do not go into its library or binary.
pub const NOT_CODE: &[&str] = &["tests", "benches", "examples", "target"];

/// The workspace's member crates, by package name.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The folder of the workspace `Cargo.toml`.
    pub root: PathBuf,
    /// The root manifest.
    manifest: toml::Table,
    /// Each member's package name, folder and manifest.
    members: BTreeMap<String, (PathBuf, toml::Table)>,
}

/// What a code version was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeVersion {
    /// Hex sha256.
    pub hash: String,
    /// The workspace crates it covers, by package name.
    pub crates: BTreeSet<String>,
    /// Every file read (for `cargo:rerun-if-changed`).
    pub files: Vec<PathBuf>,
}

impl Workspace {
    /// Reads the workspace manifest at `root` and its members (`dir/*` globs and plain folders).
    pub fn read(root: &Path) -> Result<Self, Error> {
        let manifest = read_manifest(&root.join(MANIFEST)).ok_or_else(|| Error::Manifest {
            path: root.join(MANIFEST),
        })?;
        let patterns = manifest
            .get("workspace")
            .and_then(|w| w.get("members"))
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut dirs = Vec::new();
        for pattern in patterns.iter().filter_map(toml::Value::as_str) {
            match pattern.strip_suffix("/*") {
                Some(parent) => {
                    let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
                        continue;
                    };
                    dirs.extend(entries.flatten().map(|e| e.path()));
                }
                None => dirs.push(root.join(pattern)),
            }
        }
        let mut members = BTreeMap::new();
        for dir in dirs {
            let Some(member) = read_manifest(&dir.join(MANIFEST)) else {
                continue;
            };
            if let Some(name) = member
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(toml::Value::as_str)
            {
                members.insert(name.to_string(), (dir, member));
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            manifest,
            members,
        })
    }

    /// The folder of the member named `name`.
    pub fn member_dir(&self, name: &str) -> Option<&Path> {
        self.members.get(name).map(|(dir, _)| dir.as_path())
    }

    /// Every member folder (for `cargo:rerun-if-changed` on their manifests).
    pub fn member_dirs(&self) -> impl Iterator<Item = &Path> {
        self.members.values().map(|(dir, _)| dir.as_path())
    }

    /// `name` and every workspace crate it depends on, transitively: normal,
    /// build and target-specific dependencies (not dev-dependencies), by path
    /// or through `workspace = true` entries that have a path.
    pub fn closure(&self, name: &str) -> Result<BTreeSet<String>, Error> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(next) = todo.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            let (dir, manifest) = self
                .members
                .get(&next)
                .ok_or_else(|| Error::NotAMember { name: next.clone() })?;
            for (dep, spec) in dependency_tables(manifest).flat_map(|t| t.iter()) {
                let (package, path) = self.resolve(dir, dep, spec);
                if let Some(path) = path {
                    let found = self
                        .members
                        .iter()
                        .find(|(_, (d, _))| same_dir(d, &path))
                        .map(|(n, _)| n.clone());
                    todo.push(found.unwrap_or(package));
                }
            }
        }
        Ok(seen)
    }

    /// The package name and, for a path dependency, its folder.
    fn resolve(&self, dir: &Path, dep: &str, spec: &toml::Value) -> (String, Option<PathBuf>) {
        let renamed = |s: &toml::Value| {
            s.get("package")
                .and_then(toml::Value::as_str)
                .unwrap_or(dep)
                .to_string()
        };
        if spec.get("workspace").and_then(toml::Value::as_bool) == Some(true) {
            let shared = self.workspace_dependency(dep);
            let path = shared
                .and_then(|s| s.get("path"))
                .and_then(toml::Value::as_str)
                .map(|p| self.root.join(p));
            return (shared.map_or(dep.to_string(), renamed), path);
        }
        let path = spec
            .get("path")
            .and_then(toml::Value::as_str)
            .map(|p| dir.join(p));
        (renamed(spec), path)
    }

    fn workspace_dependency(&self, dep: &str) -> Option<&toml::Value> {
        self.manifest
            .get("workspace")?
            .get("dependencies")?
            .get(dep)
    }

    /// The code version of `crate_name`: see the module docs.
    pub fn code_version(&self, crate_name: &str) -> Result<CodeVersion, Error> {
        let crates = self.closure(crate_name)?;
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        let section = |hasher: &mut Sha256, label: &str, bytes: &[u8]| {
            hasher.update(label.as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        for name in &crates {
            let (dir, manifest) = &self.members[name];
            let mut crate_files = Vec::new();
            collect_code(dir, dir, &mut crate_files);
            crate_files.sort();
            for file in crate_files {
                let bytes = std::fs::read(&file).map_err(|source| Error::Read {
                    path: file.clone(),
                    source,
                })?;
                section(&mut hasher, &self.relative(&file), &bytes);
                files.push(file);
            }
            // What the crate inherits from the workspace: shared dependency
            // specs (versions, features) and package settings (edition).
            for (dep, spec) in dependency_tables(manifest).flat_map(|t| t.iter()) {
                if spec.get("workspace").and_then(toml::Value::as_bool) == Some(true) {
                    if let Some(shared) = self.workspace_dependency(dep) {
                        let text = format!("{name}:{dep}={shared}");
                        section(&mut hasher, "workspace.dependencies", text.as_bytes());
                    }
                }
            }
        }
        if let Some(package) = self
            .manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
        {
            section(
                &mut hasher,
                "workspace.package",
                package.to_string().as_bytes(),
            );
        }
        // Cargo.lock lists a workspace crate's dev-dependencies too: follow only
        // the dependencies its manifest builds it with.
        let direct: BTreeMap<String, BTreeSet<String>> = crates
            .iter()
            .map(|name| {
                let (dir, manifest) = &self.members[name];
                let deps = dependency_tables(manifest)
                    .flat_map(|t| t.iter())
                    .map(|(dep, spec)| self.resolve(dir, dep, spec).0)
                    .collect();
                (name.clone(), deps)
            })
            .collect();
        let lock_path = self.root.join("Cargo.lock");
        let lock = lock_entries(&lock_path, &direct);
        section(&mut hasher, "Cargo.lock", lock.as_bytes());
        files.push(lock_path);
        files.push(self.root.join(MANIFEST));
        let hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(CodeVersion {
            hash,
            crates,
            files,
        })
    }

    /// `path` relative to the root with `/` separators, so a moved checkout hashes the same.
    fn relative(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The manifest's `[dependencies]`, `[build-dependencies]` and their
/// `[target.'cfg(..)'.*]` variants.
fn dependency_tables(manifest: &toml::Table) -> impl Iterator<Item = &toml::Table> {
    const KINDS: [&str; 3] = ["dependencies", "build-dependencies", "build_dependencies"];
    let top = KINDS.iter().filter_map(|k| manifest.get(*k));
    let targets = manifest
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|t| t.values())
        .flat_map(|t| KINDS.iter().filter_map(move |k| t.get(*k)));
    top.chain(targets).filter_map(toml::Value::as_table)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Every file of a crate that can end up in its code: all but tests,
/// benches, examples, build output and hidden files.
fn collect_code(crate_dir: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || (dir == crate_dir && NOT_CODE.contains(&name.as_str())) {
            continue;
        }
        if path.is_dir() {
            collect_code(crate_dir, &path, files);
        } else {
            files.push(path);
        }
    }
}

/// The `Cargo.lock` entries (name, version, source, checksum) of every package
/// reachable from the workspace crates `direct` (each with the packages it
/// is built with), one per line, sorted. A missing lock file gives an empty
/// text; one that is not a lock file gives its bytes, so it still counts.
fn lock_entries(path: &Path, direct: &BTreeMap<String, BTreeSet<String>>) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let Some(packages) = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("package").and_then(toml::Value::as_array).cloned())
    else {
        return text;
    };
    let field = |p: &toml::Value, k: &str| {
        p.get(k)
            .and_then(toml::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    // A dependency is written "name", "name version" or "name version (source)".
    let matches = |p: &toml::Value, dep: &str| {
        let mut parts = dep.split(' ');
        let name = parts.next().unwrap_or("");
        field(p, "name") == name && parts.next().is_none_or(|v| field(p, "version") == v)
    };
    let mut reached: BTreeSet<usize> = BTreeSet::new();
    let mut todo: Vec<usize> = packages
        .iter()
        .enumerate()
        .filter(|(_, p)| direct.contains_key(&field(p, "name")) && p.get("source").is_none())
        .map(|(i, _)| i)
        .collect();
    while let Some(i) = todo.pop() {
        if !reached.insert(i) {
            continue;
        }
        let deps = packages[i]
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let built_with = (packages[i].get("source").is_none())
            .then(|| direct.get(&field(&packages[i], "name")))
            .flatten();
        for dep in deps.iter().filter_map(toml::Value::as_str) {
            let dep_name = dep.split(' ').next().unwrap_or("");
            if built_with.is_some_and(|names| !names.contains(dep_name)) {
                continue;
            }
            todo.extend(
                packages
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches(p, dep))
                    .map(|(j, _)| j),
            );
        }
    }
    let mut lines: Vec<String> = reached
        .into_iter()
        .map(|i| {
            let p = &packages[i];
            ["name", "version", "source", "checksum"]
                .map(|k| field(p, k))
                .join(" ")
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace of three crates: `app` depends on `lib` (through the
    /// workspace table), `lib` on `base` (by path); `other` stands apart.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*\"]\n\n[workspace.package]\nedition = \"2021\"\n\n\
             [workspace.dependencies]\nlib = { path = \"crates/lib\" }\nserde = \"1\"\n",
        );
        let package = |name: &str, deps: &str| {
            format!(
                "[package]\nname = \"{name}\"\nedition.workspace = true\n\n[dependencies]\n{deps}"
            )
        };
        write(
            "crates/app/Cargo.toml",
            &package(
                "app",
                "lib.workspace = true\n\n[dev-dependencies]\nother = { path = \"../other\" }\n",
            ),
        );
        write("crates/app/src/lib.rs", "pub fn app() {}\n");
        write("crates/app/tests/t.rs", "#[test] fn t() {}\n");
        write(
            "crates/lib/Cargo.toml",
            &package(
                "lib",
                "base = { path = \"../base\" }\nserde.workspace = true\n",
            ),
        );
        write("crates/lib/src/lib.rs", "pub fn lib() {}\n");
        write("crates/base/Cargo.toml", &package("base", ""));
        write("crates/base/src/lib.rs", "pub fn base() {}\n");
        write("crates/base/assets/table.txt", "1 2 3\n");
        write("crates/other/Cargo.toml", &package("other", ""));
        write("crates/other/src/lib.rs", "pub fn other() {}\n");
        write(
            "Cargo.lock",
            "version = 4\n\n\
             [[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"lib\", \"other\"]\n\n\
             [[package]]\nname = \"base\"\nversion = \"0.1.0\"\n\n\
             [[package]]\nname = \"lib\"\nversion = \"0.1.0\"\ndependencies = [\"base\", \"serde 1.0.1\"]\n\n\
             [[package]]\nname = \"other\"\nversion = \"0.1.0\"\ndependencies = [\"rand\"]\n\n\
             [[package]]\nname = \"rand\"\nversion = \"0.8.5\"\nsource = \"registry\"\nchecksum = \"aa\"\n\n\
             [[package]]\nname = \"serde\"\nversion = \"1.0.1\"\nsource = \"registry\"\nchecksum = \"bb\"\n",
        );
        dir
    }

    fn hash(root: &Path, name: &str) -> String {
        Workspace::read(root)
            .unwrap()
            .code_version(name)
            .unwrap()
            .hash
    }

    fn edit(root: &Path, rel: &str, from: &str, to: &str) {
        let path = root.join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} lacks {from:?}");
        std::fs::write(path, text.replace(from, to)).unwrap();
    }

    #[test]
    fn closure_follows_path_and_workspace_dependencies_but_not_dev_ones() {
        let dir = workspace();
        let ws = Workspace::read(dir.path()).unwrap();
        let names = |set: BTreeSet<String>| set.into_iter().collect::<Vec<_>>();
        assert_eq!(names(ws.closure("app").unwrap()), ["app", "base", "lib"]);
        assert_eq!(names(ws.closure("base").unwrap()), ["base"]);
        assert!(matches!(ws.closure("nope"), Err(Error::NotAMember { name }) if name == "nope"));
        assert_eq!(ws.member_dirs().count(), 4);
    }

    #[test]
    fn editing_a_dependency_crate_changes_the_dependents_code_version() {
        let dir = workspace();
        let root = dir.path();
        let (app, base) = (hash(root, "app"), hash(root, "base"));
        assert_eq!(app, hash(root, "app"), "deterministic");

        // Two levels down: base's source and its assets.
        edit(root, "crates/base/src/lib.rs", "base()", "base2()");
        let app2 = hash(root, "app");
        assert_ne!(app2, app, "an edit in an indirect dependency counts");
        assert_ne!(hash(root, "base"), base);
        edit(root, "crates/base/assets/table.txt", "3", "4");
        let app3 = hash(root, "app");
        assert_ne!(app3, app2, "non-Rust files of a crate count");

        // What is not in app's code changes nothing: tests, unrelated crates,
        // dev-dependencies.
        edit(root, "crates/app/tests/t.rs", "t()", "u()");
        edit(root, "crates/other/src/lib.rs", "other()", "other2()");
        assert_eq!(hash(root, "app"), app3);
    }

    #[test]
    fn cargo_lock_and_workspace_settings_count_where_they_reach() {
        let dir = workspace();
        let root = dir.path();
        let app = hash(root, "app");
        // A lock entry app does not reach (rand, through a dev-dependency's crate).
        edit(root, "Cargo.lock", "checksum = \"aa\"", "checksum = \"ab\"");
        assert_eq!(hash(root, "app"), app);
        // A bump of a package app's code pulls in.
        edit(root, "Cargo.lock", "checksum = \"bb\"", "checksum = \"bc\"");
        let bumped = hash(root, "app");
        assert_ne!(bumped, app, "a Cargo.lock bump of serde counts");
        // The workspace's spec of a dependency (features, version) and package settings.
        edit(
            root,
            "Cargo.toml",
            "serde = \"1\"",
            "serde = { version = \"1\", features = [\"derive\"] }",
        );
        let featured = hash(root, "app");
        assert_ne!(featured, bumped);
        edit(
            root,
            "Cargo.toml",
            "edition = \"2021\"",
            "edition = \"2024\"",
        );
        assert_ne!(hash(root, "app"), featured);
    }

    #[test]
    fn a_moved_checkout_hashes_the_same() {
        let a = workspace();
        let b = workspace();
        assert_eq!(hash(a.path(), "app"), hash(b.path(), "app"));
    }

    #[test]
    fn every_stage_of_this_workspace_covers_the_shared_crate() {
        let root = crate::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let ws = Workspace::read(&root).unwrap();
        for (_, krate) in STAGE_CRATES {
            let version = ws.code_version(krate).unwrap();
            assert!(version.crates.contains(*krate));
            assert!(
                version.crates.contains("hdr-common"),
                "{krate}: {version:?}"
            );
            assert!(!version.crates.contains("xtask"));
            assert!(!version.crates.contains("hdr-pipeline"));
        }
    }
}
