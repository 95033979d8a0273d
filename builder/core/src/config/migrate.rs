//! `update-build`: rewrite an older `build.toml` as edition 5, keeping the
//! comments, key order and formatting of everything that does not change.

use std::path::Path;

use toml_edit::{value, Array, DocumentMut, Item, Table};

use super::diag::ConfigErrors;
use super::model::CURRENT_EDITION;
use super::parse::parse_str;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already edition 5: nothing to do.
    Current,
    /// Rewritten text and a description of each change.
    Updated { text: String, changes: Vec<String> },
}

/// Compute the edition-5 text for `src`. The input is validated first: a file
/// with errors is never rewritten.
pub fn migrate(src: &str, file: &Path, root: &Path) -> Result<Outcome, ConfigErrors> {
    let (config, _warnings) = parse_str(src, file, root, true)?;
    if config.source_edition == CURRENT_EDITION {
        return Ok(Outcome::Current);
    }
    // The validator accepted the file, so it parses.
    let mut doc: DocumentMut = src.parse().expect("validated TOML parses");
    let mut changes = Vec::new();

    let noarch = doc.get("torch").is_none() && doc.get("tvm-ffi").is_none();
    if noarch && doc.get("torch-noarch").is_none() {
        let mut t = Table::new();
        t.set_implicit(false);
        doc.insert("torch-noarch", Item::Table(t));
        changes.push(
            "added `[torch-noarch]` (edition 3 files without a framework section were pure Python)"
                .into(),
        );
    }

    let general = doc["general"]
        .as_table_mut()
        .expect("validated: [general] is a table");
    insert_after(general, "edition", value(CURRENT_EDITION), "name");
    changes.push("added `edition = 5` to [general]".into());
    if general.get("version").is_none() {
        insert_after(general, "version", value(1), "edition");
        changes.push("added `version = 1` (edition 3 default)".into());
    }

    // general.cuda.capabilities and general.rocm.archs moved.
    let caps = take_key(general, "cuda", "capabilities");
    let archs = take_key(general, "rocm", "archs");
    if general
        .get("rocm")
        .and_then(|r| r.as_table_like())
        .is_some_and(|t| t.is_empty())
    {
        general.remove("rocm");
    }
    if general
        .get("cuda")
        .and_then(|r| r.as_table_like())
        .is_some_and(|t| t.is_empty())
    {
        general.remove("cuda");
    }

    for (moved, from, kernel_key, backend) in [
        (
            caps,
            "general.cuda.capabilities",
            "cuda-capabilities",
            "cuda",
        ),
        (archs, "general.rocm.archs", "rocm-archs", "rocm"),
    ] {
        let Some(list) = moved else { continue };
        if noarch || doc.get("torch-noarch").is_some() {
            let t = doc["torch-noarch"]
                .as_table_like_mut()
                .expect("[torch-noarch] is a table");
            t.insert(
                kernel_key,
                Item::Value(toml_edit::Value::Array(clean_array(&list))),
            );
            changes.push(format!("moved `{from}` to `torch-noarch.{kernel_key}`"));
            continue;
        }
        let mut targets = Vec::new();
        if let Some(kernels) = doc.get_mut("kernel").and_then(|k| k.as_table_like_mut()) {
            for (name, item) in kernels.iter_mut() {
                let Some(kt) = item.as_table_like_mut() else {
                    continue;
                };
                if kt.get("backend").and_then(|b| b.as_str()) == Some(backend)
                    && kt.get(kernel_key).is_none()
                {
                    kt.insert(
                        kernel_key,
                        Item::Value(toml_edit::Value::Array(clean_array(&list))),
                    );
                    targets.push(format!("kernel.{}", name.get()));
                }
            }
        }
        if targets.is_empty() {
            changes.push(format!(
                "dropped `{from}` (no {backend} kernel without its own `{kernel_key}`)"
            ));
        } else {
            changes.push(format!(
                "moved `{from}` to `{kernel_key}` of {}",
                targets.join(", ")
            ));
        }
    }

    let text = doc.to_string();
    // The result must itself be a valid edition-5 file.
    let (check, _) = parse_str(&text, file, root, true)?;
    debug_assert_eq!(check.source_edition, CURRENT_EDITION);
    Ok(Outcome::Updated { text, changes })
}

/// Insert `key` right after `anchor` (or at the end), keeping every other key in place.
fn insert_after(table: &mut Table, key: &str, item: Item, anchor: &str) {
    let order: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    table.insert(key, item);
    let rank = |k: &str| -> (usize, usize) {
        if k == key {
            let a = order
                .iter()
                .position(|o| o == anchor)
                .unwrap_or(order.len());
            (a, 1)
        } else {
            (order.iter().position(|o| o == k).unwrap_or(usize::MAX), 0)
        }
    };
    table.sort_values_by(|k1, _, k2, _| rank(k1.get()).cmp(&rank(k2.get())));
}

fn take_key(general: &mut Table, sub: &str, key: &str) -> Option<Array> {
    let t = general.get_mut(sub)?.as_table_like_mut()?;
    let item = t.remove(key)?;
    item.as_array().cloned()
}

fn clean_array(a: &Array) -> Array {
    let mut out: Array = a.iter().filter_map(|v| v.as_str()).collect();
    out.fmt();
    out
}
