//! Whether a stage is up to date: its lock entry against the code, the
//! configuration and the files as they are now (DVC's `status`).

use crate::pipeline_lock::LockFile;
use crate::project::Project;
use crate::run_cache::arithmetic;
use crate::stage::Stage;
use crate::Error;

impl Project {
    /// Why `stage` must run, or an empty list when it is up to date.
    /// `stale_upstream` names earlier stages that will run first.
    pub fn stale_reasons(
        &self,
        stage: Stage,
        lock: &LockFile,
        stale_upstream: &[Stage],
    ) -> Result<Vec<String>, Error> {
        let Some(entry) = lock.stages.get(stage.name()) else {
            return Ok(vec!["never run".to_string()]);
        };
        let mut reasons = Vec::new();
        for up in stale_upstream {
            if self
                .deps(stage)
                .iter()
                .any(|(_, maker)| *maker == Some(*up))
            {
                reasons.push(format!("upstream stage `{}` will rerun", up.name()));
            }
        }
        if entry.code != stage.code_hash() {
            reasons.push("its code changed".to_string());
        }
        if let Some(recorded) = &entry.kernels {
            reasons.extend(kernel_change(recorded, hdr_model::active_kernel_path()));
        }
        reasons.extend(param_changes(
            stage.name(),
            &entry.params,
            &self.params(stage),
        ));
        let deps = self.deps(stage);
        for key in entry.deps.keys() {
            if !deps.iter().any(|(path, _)| self.display(path) == *key) {
                reasons.push(format!("input {key} is no longer there"));
            }
        }
        for (path, maker) in deps {
            let key = self.display(&path);
            if !path.exists() {
                let hint = match maker {
                    Some(m) => format!(" (made by `cargo xtask {}`)", m.name()),
                    None => String::new(),
                };
                reasons.push(format!("input {key} is missing{hint}"));
                continue;
            }
            let hash = hdr_common::sha256_input(&path).map_err(Error::io("read", &key))?;
            match entry.deps.get(&key) {
                Some(old) if *old == hash => {}
                Some(_) => reasons.push(format!("input {key} changed")),
                None => reasons.push(format!("input {key} is new")),
            }
        }
        for (key, old) in &entry.outs {
            let path = self.root.join(key);
            if !path.exists() {
                reasons.push(format!("output {key} is missing"));
            } else if hdr_common::sha256_file(&path).map_err(Error::io("read", key))? != *old {
                reasons.push(format!("output {key} was modified"));
            }
        }
        Ok(reasons)
    }
}

/// Why a stage that ran on the `recorded` kernel path must rerun on `now`:
/// only when the two compute different bits.
fn kernel_change(recorded: &str, now: hdr_model::KernelPath) -> Option<String> {
    (arithmetic(recorded) != now.arithmetic()).then(|| {
        format!(
            "it ran on the {recorded} kernels; this process runs the {now} ones, \
             whose results differ in the last bits"
        )
    })
}

/// One line per config key whose value differs from the recorded one.
fn param_changes(section: &str, old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return if old == new {
            vec![]
        } else {
            vec![format!("[{section}] config changed")]
        };
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (a, b) = (old.get(key), new.get(key));
            (a != b).then(|| {
                let show = |v: Option<&serde_json::Value>| {
                    v.map_or("(unset)".to_string(), |v| v.to_string())
                };
                // Keys from another section arrive qualified (`model.architecture`).
                let name = if key.contains('.') {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                format!("`{name}` changed: {} -> {}", show(a), show(b))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_kernel_path_of_other_arithmetic_makes_a_stage_stale() {
        use hdr_model::KernelPath::{Avx2, Avx512, Portable};
        assert_eq!(kernel_change("avx512", Avx2), None);
        assert_eq!(kernel_change("avx2", Avx512), None);
        assert_eq!(kernel_change("portable", Portable), None);
        assert_eq!(
            kernel_change("portable", Avx2).as_deref(),
            Some(
                "it ran on the portable kernels; this process runs the avx2 ones, \
                 whose results differ in the last bits"
            )
        );
        assert!(kernel_change("avx512", Portable).is_some());
    }

    #[test]
    fn param_changes_name_each_changed_key() {
        let old = serde_json::json!({"seed": 42, "test_fraction": 0.2});
        let new = serde_json::json!({"seed": 7, "test_fraction": 0.2});
        assert_eq!(
            param_changes("data", &old, &new),
            vec!["`data.seed` changed: 42 -> 7".to_string()]
        );
        assert!(param_changes("data", &old, &old).is_empty());
        let old = serde_json::json!({"epochs": 20, "model.architecture": "seed"});
        let new = serde_json::json!({"epochs": 20, "model.architecture": "deep"});
        assert_eq!(
            param_changes("train", &old, &new),
            vec!["`model.architecture` changed: \"seed\" -> \"deep\"".to_string()]
        );
    }
}
