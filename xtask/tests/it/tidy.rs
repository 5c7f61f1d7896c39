//! Tidy checks, in the spirit of rust-analyzer's `tidy.rs`: what
//! ARCHITECTURE.md promises about the code, enforced over every source file
//! of the workspace rather than hoped for.
//!
//! - no import circle between the modules of a crate (a module stands above
//!   what it uses);
//! - every `unsafe` block, fn or impl has a `SAFETY:` comment (or, for an
//!   `unsafe fn`, a `# Safety` section) just above it;
//! - no `#[path]` reaches outside its own crate (tests share through
//!   hdr-testkit);
//! - no `Other(String)` error variant in a library: errors are typed;
//! - no source file over 800 lines, generated files aside;
//! - no library registers a signal handler or exits the process;
//! - ARCHITECTURE.md's crate table names each crate's workspace dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// Files written by a generator, not by hand: exempt from the length limit.
const GENERATED: &[&str] = &["crates/hdr-export/src/onnx_pb.rs"];

/// The longest a hand-written source file may be.
const MAX_LINES: usize = 800;

/// Libraries whose error enum still has a catch-all `Other(String)` variant:
/// none since hdr-data's errors were typed (issue 22). The list may only
/// shrink: the test fails on a file listed here that no longer needs to be,
/// and on any `Other(String)` in a file not listed.
const UNTYPED_ERRORS: &[&str] = &[];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The workspace's member folders: `crates/*` and `xtask`.
fn crate_dirs() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root.join("xtask"));
    dirs.sort();
    dirs
}

/// Every `.rs` file below `dir`, `target/` and trybuild's inputs aside.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "compile_fail" | "compiles")
                    && !name.starts_with('.')
                {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `path` relative to the workspace root, with forward slashes.
fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The text with `//` comments and string literals blanked out, line by
/// line (a rough lexer: enough to find paths and keywords in code).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    in_string = false;
                }
                out.push(' ');
            } else if c == '"' {
                in_string = true;
                out.push(' ');
            } else if c == '/' && chars.peek() == Some(&'/') {
                break;
            } else {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

// ---- module cycles ----

/// The module path of a file of a crate's `src/`: `[]` for a crate root.
fn module_path(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.is_empty() && matches!(stem, "lib" | "main") {
        return Some(Vec::new());
    }
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// The paths a use-tree text names, `a::{b, c::d}` giving `a::b` and `a::c::d`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let prefix: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let close = tree.rfind('}').unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let mut items = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[start..]);
        return items
            .into_iter()
            .filter(|item| !item.trim().is_empty())
            .flat_map(|item| {
                expand_use_tree(item).into_iter().map(|tail| {
                    let mut path = prefix.clone();
                    path.extend(tail.into_iter().filter(|s| s != "self"));
                    path
                })
            })
            .collect();
    }
    let path = tree.split(" as ").next().unwrap_or(tree);
    vec![path
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "*")
        .map(String::from)
        .collect()]
}

/// The module paths `code` (of module `module`) refers to through `crate::`
/// and `super::`.
fn referenced_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (anchor, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            let mut parent = module.to_vec();
            parent.pop();
            parent
        }),
    ] {
        let mut rest = code;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().next_back();
            let tail = &rest[at + anchor.len()..];
            rest = tail;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            // The path, and the braced group of a use tree after it.
            let mut end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if tail[end..].starts_with('{') {
                let mut depth = 0;
                end += tail[end..]
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(tail.len() - end, |(i, _)| i + 1);
            }
            let text = &tail[..end];
            for path in expand_use_tree(text) {
                let mut full = base.clone();
                full.extend(path);
                paths.push(full);
            }
        }
    }
    paths
}

/// A cycle in `edges`, as the list of nodes around it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node) {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, edges, &mut state, &mut stack) {
                return Some(cycle);
            }
        }
    }
    None
}

/// Import edges between sibling modules of the crate in `dir`, keyed by
/// their parent module: `a::b` using `a::c::x` is an edge `b -> c` under
/// `a`. A module using its own ancestors or descendants is no edge.
fn sibling_edges(dir: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = dir.join("src");
    let mut modules: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    for file in rust_files(&src) {
        if let Some(path) = module_path(&src, &file) {
            modules.insert(path, file);
        }
    }
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for path in referenced_paths(&code, module) {
            // The longest prefix that is a module of its own.
            let Some(target) = (0..=path.len())
                .rev()
                .map(|n| &path[..n])
                .find(|prefix| modules.contains_key(*prefix))
            else {
                continue;
            };
            let common = module
                .iter()
                .zip(target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == module.len() || common == target.len() {
                continue;
            }
            graphs
                .entry(module[..common].join("::"))
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    graphs
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut cycles = Vec::new();
    for dir in crate_dirs() {
        for (parent, edges) in sibling_edges(&dir) {
            if let Some(cycle) = find_cycle(&edges) {
                let scope = if parent.is_empty() {
                    String::new()
                } else {
                    format!("{parent}::")
                };
                let names: Vec<String> = cycle.iter().map(|m| format!("{scope}{m}")).collect();
                cycles.push(format!("{}: {}", relative(&dir), names.join(" -> ")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import circles (move what both need into a module below both):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let code = code_only(
        "use crate::{a::X, b::{self, Y}};\nuse super::c::Z; // crate::d\nlet s = \"crate::e\";",
    );
    let paths = referenced_paths(&code, &["m".to_string(), "n".to_string()]);
    assert_eq!(
        paths,
        [
            vec!["a", "X"],
            vec!["b"],
            vec!["b", "Y"],
            vec!["m", "c", "Z"],
        ]
    );
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

// ---- unsafe, #[path], errors, length ----

/// Whether a line of code opens an `unsafe` block, fn or impl.
fn is_unsafe(code_line: &str) -> bool {
    let mut rest = code_line;
    while let Some(at) = rest.find("unsafe") {
        let before = rest[..at].chars().next_back();
        let after = rest[at + "unsafe".len()..].trim_start();
        rest = &rest[at + "unsafe".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        // A trait's `unsafe fn` declaration (no body) states a contract,
        // which the trait's docs explain once; bodies are checked.
        let declaration = after.starts_with("fn ") && code_line.trim_end().ends_with(';');
        if after.starts_with('{')
            || (after.starts_with("fn ") && !declaration)
            || after.starts_with("impl")
        {
            return true;
        }
    }
    false
}

#[test]
fn every_unsafe_says_why_it_is_sound() {
    let mut missing = Vec::new();
    for dir in crate_dirs() {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let raw: Vec<&str> = text.lines().collect();
            let code = code_only(&text);
            for (i, line) in code.lines().enumerate() {
                if !is_unsafe(line) {
                    continue;
                }
                let justified = raw[i.saturating_sub(8)..=i]
                    .iter()
                    .any(|l| l.contains("SAFETY:") || l.contains("# Safety"));
                if !justified {
                    missing.push(format!("{}:{}", relative(&file), i + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "unsafe without a `// SAFETY:` comment in the 8 lines above:\n{}",
        missing.join("\n")
    );
}

/// `path` with `.` and `..` resolved lexically.
fn normalised(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn no_path_attribute_leaves_its_crate() {
    let mut leaving = Vec::new();
    for dir in crate_dirs() {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim_start();
                let Some(rest) = line.strip_prefix("#[path") else {
                    continue;
                };
                let target = rest.split('"').nth(1).unwrap_or_default();
                let resolved = normalised(&file.parent().unwrap().join(target));
                if !resolved.starts_with(&dir) {
                    leaving.push(format!("{}:{}: {target}", relative(&file), i + 1));
                }
            }
        }
    }
    assert!(
        leaving.is_empty(),
        "#[path] into another crate (share test helpers through hdr-testkit):\n{}",
        leaving.join("\n")
    );
}

#[test]
fn library_errors_are_typed() {
    let mut untyped = BTreeSet::new();
    for dir in crate_dirs() {
        if !dir.join("src/lib.rs").is_file() {
            continue;
        }
        for file in rust_files(&dir.join("src")) {
            if file.ends_with("main.rs") {
                continue;
            }
            let code = code_only(&std::fs::read_to_string(&file).unwrap());
            if code.contains("Other(String)") {
                untyped.insert(relative(&file));
            }
        }
    }
    let allowed: BTreeSet<String> = UNTYPED_ERRORS.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = untyped.difference(&allowed).collect();
    assert!(
        new.is_empty(),
        "`Other(String)` in a library: give each failure a variant that carries \
         its file, row, column or key and keeps its source():\n{new:?}"
    );
    let fixed: Vec<&String> = allowed.difference(&untyped).collect();
    assert!(
        fixed.is_empty(),
        "typed now: remove from UNTYPED_ERRORS in tidy.rs: {fixed:?}"
    );
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut long = Vec::new();
    for dir in crate_dirs() {
        for file in rust_files(&dir) {
            let rel = relative(&file);
            if GENERATED.contains(&rel.as_str()) {
                continue;
            }
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{rel}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split by job):\n{}",
        long.join("\n")
    );
}

// ---- x86 code stays behind `#[cfg(target_arch = "x86_64")]` ----

const X86_GATE: &str = "#[cfg(target_arch = \"x86_64\")]";

/// What only compiles for x86-64: intrinsics' module, feature detection,
/// functions compiled for x86 instruction sets.
const X86_ONLY: &[&str] = &[
    "arch::x86_64",
    "is_x86_feature_detected!",
    "#[target_feature(",
];

/// Whether the module in `file` is declared behind [`X86_GATE`] (or sits
/// inside a module that is).
fn module_is_x86_only(file: &Path) -> bool {
    let (dir, name) = match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod") => {
            let dir = file.parent().unwrap();
            (
                dir.parent().unwrap().to_path_buf(),
                dir.file_name().unwrap().to_str().unwrap().to_string(),
            )
        }
        Some("lib" | "main") | None => return false,
        Some(stem) => (file.parent().unwrap().to_path_buf(), stem.to_string()),
    };
    let parents = [
        dir.join("mod.rs"),
        dir.join("lib.rs"),
        dir.join("main.rs"),
        dir.with_extension("rs"),
    ];
    for parent in parents.iter().filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(parent).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let declared = line
                .strip_suffix(&format!("mod {name};"))
                .is_some_and(|before| before.is_empty() || before.starts_with("pub"));
            if declared {
                return (i > 0 && lines[i - 1] == X86_GATE) || module_is_x86_only(parent);
            }
        }
    }
    false
}

#[test]
fn x86_code_is_behind_cfg_target_arch() {
    // The portable build must keep compiling for other targets (only x86-64
    // is installed here, so this is checked by reading, not by building).
    let mut ungated = Vec::new();
    for dir in crate_dirs() {
        for file in rust_files(&dir) {
            if module_is_x86_only(&file) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let raw: Vec<&str> = text.lines().collect();
            let code = code_only(&text);
            for (i, line) in code.lines().enumerate() {
                if !X86_ONLY.iter().any(|token| line.contains(token)) {
                    continue;
                }
                let gated = raw[i.saturating_sub(8)..i]
                    .iter()
                    .any(|l| l.trim() == X86_GATE);
                if !gated {
                    ungated.push(format!("{}:{}", relative(&file), i + 1));
                }
            }
        }
    }
    assert!(
        ungated.is_empty(),
        "x86-only code outside a module declared behind {X86_GATE} \
         (and not within 8 lines under one):\n{}",
        ungated.join("\n")
    );
}

#[test]
fn the_x86_gate_is_read_from_module_declarations() {
    let kernels = workspace_root().join("crates/hdr-model/src/kernels");
    assert!(module_is_x86_only(&kernels.join("seed/vector.rs")));
    assert!(module_is_x86_only(&kernels.join("simd.rs")));
    assert!(module_is_x86_only(&kernels.join("winograd/vector.rs")));
    assert!(!module_is_x86_only(&kernels.join("winograd/mod.rs")));
    assert!(!module_is_x86_only(&kernels.join("seed/portable.rs")));
    assert!(!module_is_x86_only(&kernels.join("seed/mod.rs")));
    assert!(!module_is_x86_only(&kernels.join("cpu.rs")));
}

// ---- signals and exits belong to programs ----

/// Whether a library source file (not a binary's `main.rs`, nor a test
/// module's code after `#[cfg(test)]`) registers a signal handler or ends
/// the process.
fn stops_the_process(code: &str) -> bool {
    let library_part = code.split("#[cfg(test)]").next().unwrap_or(code);
    [
        "signal_hook::",
        "process::exit(",
        "libc::signal(",
        "libc::sigaction(",
    ]
    .iter()
    .any(|call| library_part.contains(call))
}

#[test]
fn no_library_installs_a_signal_handler_or_exits() {
    let mut found = Vec::new();
    for dir in crate_dirs() {
        if !dir.join("src/lib.rs").is_file() {
            continue;
        }
        for file in rust_files(&dir.join("src")) {
            if file.ends_with("main.rs") || file.components().any(|c| c.as_os_str() == "bin") {
                continue;
            }
            if stops_the_process(&code_only(&std::fs::read_to_string(&file).unwrap())) {
                found.push(relative(&file));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a library that handles signals or exits takes that choice from the program embedding \
         it (hdr-pipeline takes an `on_locked` hook; `cargo xtask` installs the handlers):\n{found:?}"
    );
    assert!(stops_the_process(
        "fn f() { signal_hook::flag::register(SIGINT, flag); }"
    ));
    assert!(!stops_the_process(
        "#[cfg(test)]\nmod tests { fn f() { std::process::exit(1) } }"
    ));
}

// ---- the crate map ----

/// The workspace crates (without `hdr-`) in a manifest's `[dependencies]`,
/// optional ones (behind a feature) aside.
fn workspace_dependencies(manifest: &Path) -> BTreeSet<String> {
    let table: toml::Table = std::fs::read_to_string(manifest).unwrap().parse().unwrap();
    let Some(deps) = table.get("dependencies").and_then(toml::Value::as_table) else {
        return BTreeSet::new();
    };
    deps.iter()
        .filter(|(_, spec)| spec.get("optional").and_then(toml::Value::as_bool) != Some(true))
        .filter_map(|(name, _)| name.strip_prefix("hdr-").map(str::to_string))
        .collect()
}

/// ARCHITECTURE.md's crate table: each crate and the workspace crates its
/// last column names (before any `;`, which adds what features bring).
fn stated_dependencies(architecture: &str) -> BTreeMap<String, BTreeSet<String>> {
    architecture
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().strip_prefix("| `")?.split(" | ").collect();
            let name = cells.first()?.split('`').next()?.to_string();
            let deps = cells.last()?.trim_end_matches('|').trim();
            let base = deps.split(';').next().unwrap_or("");
            let deps = base
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty() && *d != "—")
                .map(str::to_string)
                .collect();
            Some((name, deps))
        })
        .collect()
}

#[test]
fn architecture_lists_each_crates_dependencies() {
    let root = workspace_root();
    let stated =
        stated_dependencies(&std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let mut wrong = Vec::new();
    for dir in crate_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let actual = workspace_dependencies(&dir.join("Cargo.toml"));
        match stated.get(&name) {
            None => wrong.push(format!("{name}: not in ARCHITECTURE.md's crate table")),
            Some(listed) if *listed != actual => wrong.push(format!(
                "{name}: the table says {listed:?}, Cargo.toml {actual:?}"
            )),
            Some(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "ARCHITECTURE.md's crate map:\n{}",
        wrong.join("\n")
    );
    let parsed = stated_dependencies(
        "| `a` | job, with | pipes | b, c; with feature `x` also d |\n| `e` | job | — |",
    );
    assert_eq!(
        parsed["a"],
        BTreeSet::from(["b".to_string(), "c".to_string()])
    );
    assert!(parsed["e"].is_empty());
}
