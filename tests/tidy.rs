//! Tidy checks over the whole repository: every Rust source file starts with
//! a `//!` doc saying what flows in and out, and no file names a path of the
//! machine it was written on.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "corpus" | "artifacts" | "node_modules"
            ) {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(root, &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! doc: {missing:?}"
    );
}

/// Every `"spoor_…"` metric name in the code is listed in docs/metrics.md.
#[test]
fn every_metric_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/metrics.md")).expect("docs/metrics.md");
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut undocumented = Vec::new();
    for f in files {
        if f.components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "loadgen")
        {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, _) in text.match_indices("\"spoor_") {
            let name: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // A crate path in an attribute (`"spoor_storage::byte_size"`)
            // is not a metric name.
            let is_path = text[i + 1 + name.len()..].starts_with("::");
            if name.len() > "spoor_".len()
                && !is_path
                && !doc.contains(&format!("`{name}`"))
                && !undocumented.contains(&name)
            {
                undocumented.push(name);
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "metrics missing from docs/metrics.md: {undocumented:?}"
    );
}
