//! The defaults are stated four times: the `Default` impls (the truth),
//! the field docs, the committed pipeline.toml and the configuration table in
//! docs/guide.md. These tests hold the other three to the first (a new config
//! section needs its keys in pipeline.toml and in docs/guide.md's table).

use std::path::{Path, PathBuf};

use crate::config::{PipelineConfig, FILE_NAME, SECTIONS};

fn repo_root() -> PathBuf {
    hdr_workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn defaults() -> Vec<(&'static str, toml::Table)> {
    PipelineConfig::default().tables().unwrap()
}

fn toml_value(text: &str) -> Option<toml::Value> {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()?
        .remove("v")
}

#[test]
fn pipeline_toml_shows_every_default() {
    let path = repo_root().join(FILE_NAME);
    let committed: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    for (section, defaults) in defaults() {
        let written = committed
            .get(section)
            .and_then(toml::Value::as_table)
            .unwrap_or_else(|| panic!("pipeline.toml lacks [{section}]"));
        assert_eq!(
            written, &defaults,
            "pipeline.toml's [{section}] must list every key with its default \
             (try other values with --set, or a copy with --config)"
        );
    }
    assert_eq!(
        committed.len(),
        SECTIONS.len(),
        "pipeline.toml has an unknown section"
    );
}

#[test]
fn readme_table_lists_every_key_with_its_default() {
    let readme = std::fs::read_to_string(repo_root().join("docs/guide.md")).unwrap();
    let start = readme
        .find("## Configuration")
        .expect("docs/guide.md has a Configuration section");
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |i| start + 3 + i);
    let mut rows = std::collections::BTreeMap::new();
    for line in readme[start..end].lines() {
        let cells: Vec<&str> = line
            .split(" | ")
            .map(|c| c.trim_matches(|ch| ch == '|' || ch == ' '))
            .collect();
        let (Some(key), Some(value)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        let (Some(key), Some(value)) = (
            key.strip_prefix('`').and_then(|k| k.strip_suffix('`')),
            value.strip_prefix('`').and_then(|v| v.strip_suffix('`')),
        ) else {
            continue;
        };
        let parsed = toml_value(value)
            .unwrap_or_else(|| panic!("docs/guide.md: `{key}` default {value} is not TOML"));
        assert!(
            rows.insert(key.to_string(), parsed).is_none(),
            "docs/guide.md lists `{key}` twice"
        );
    }
    let mut expected = std::collections::BTreeMap::new();
    for (section, table) in defaults() {
        for (key, value) in table {
            expected.insert(format!("{section}.{key}"), value);
        }
    }
    assert_eq!(
        rows, expected,
        "docs/guide.md's configuration table (left) against the defaults (right)"
    );
}

/// The doc comments of one struct's fields, found in its crate's sources.
fn field_docs(type_name: &str) -> std::collections::BTreeMap<String, String> {
    let (krate, rest) = type_name.split_once("::").unwrap();
    let strukt = rest.rsplit("::").next().unwrap();
    let ws = hdr_workspace::Workspace::read(&repo_root()).unwrap();
    let dir = ws
        .member_dir(&krate.replace('_', "-"))
        .unwrap_or_else(|| panic!("no crate for {type_name}"))
        .join("src");
    let mut files = Vec::new();
    let mut todo = vec![dir];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let header = format!("pub struct {strukt} {{");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let Some(at) = text.find(&header) else {
            continue;
        };
        let mut docs = std::collections::BTreeMap::new();
        let mut doc = String::new();
        for line in text[at + header.len()..].lines().map(str::trim) {
            if line == "}" {
                return docs;
            } else if line.starts_with('#') || line.starts_with("//") && !line.starts_with("///") {
                continue;
            } else if let Some(d) = line.strip_prefix("///") {
                doc.push_str(d.trim());
                doc.push(' ');
            } else if let Some((name, _)) = line.trim_start_matches("pub ").split_once(':') {
                docs.insert(name.trim().to_string(), std::mem::take(&mut doc));
            }
        }
    }
    panic!("no `{header}` in the sources of {krate}");
}

/// What a doc says the default is: "Default VALUE" or "`VALUE` (default)".
fn stated_default(doc: &str) -> Option<String> {
    if let Some(at) = doc.find("Default ") {
        let token: String = doc[at + 8..]
            .chars()
            .take_while(|c| !matches!(c, ':' | ',' | ' ' | ';' | ')'))
            .collect();
        return Some(token.trim_end_matches('.').to_string());
    }
    let at = doc.find("` (default)")?;
    let start = doc[..at].rfind('`')? + 1;
    Some(doc[start..at].to_string())
}

#[test]
fn field_docs_describe_every_key_and_state_true_defaults() {
    let defaults = defaults();
    let mut checked = 0;
    for ((section, type_name), (_, table)) in
        PipelineConfig::section_types().into_iter().zip(&defaults)
    {
        let docs = field_docs(type_name);
        for (key, value) in table {
            let doc = docs
                .get(key)
                .unwrap_or_else(|| panic!("{type_name}.{key} has no doc comment"));
            assert!(
                !doc.trim().is_empty(),
                "{type_name}.{key} has no doc comment"
            );
            let Some(stated) = stated_default(doc) else {
                continue;
            };
            let stated_value = match stated.as_str() {
                "on" => Some(toml::Value::Boolean(true)),
                "off" => Some(toml::Value::Boolean(false)),
                other => toml_value(other),
            };
            let same = match (&stated_value, value) {
                (Some(toml::Value::Integer(a)), toml::Value::Float(b)) => *a as f64 == *b,
                (Some(a), b) => a == b,
                (None, _) => false,
            };
            assert!(
                same,
                "the doc of {section}.{key} says the default is {stated}, but it is {value}"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no doc states a default: the check would check nothing"
    );
}

#[test]
fn stated_defaults_are_read_from_both_phrasings() {
    assert_eq!(
        stated_default("Passes. Default 20: enough.").as_deref(),
        Some("20")
    );
    assert_eq!(
        stated_default("Rate. Default 0.1 (800 images).").as_deref(),
        Some("0.1")
    );
    assert_eq!(
        stated_default("`\"cosine\"` (default) or `\"constant\"`.").as_deref(),
        Some("\"cosine\"")
    );
    assert_eq!(stated_default("Seed of the split."), None);
}
