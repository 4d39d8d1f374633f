//! Tidy checks over the whole repository: every Rust source file starts with
//! a `//!` doc saying what flows in and out, every metric name is documented,
//! and no file names a path of the machine it was written on or a package
//! registry's host.

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

/// The repository's files as git lists them (tracked, and untracked ones
/// that are not ignored); without git, every file outside build folders.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output();
    if let Ok(out) = listed {
        if out.status.success() {
            return out
                .stdout
                .split(|b| *b == 0)
                .filter(|name| !name.is_empty())
                .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
                .filter(|p| p.is_file())
                .collect();
        }
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !matches!(
                    name.to_str(),
                    Some("target" | ".git" | "node_modules" | "corpus" | "artifacts")
                ) {
                    walk(&path, out);
                }
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

/// What no committed file may contain: the absolute paths of this checkout,
/// of the folder it sits in and of the user's home (so a path of the machine
/// a file was written on shows up wherever the test runs), the home and work
/// folders of the machines this project is developed on, and the host names
/// of package registries (installs name packages, never hosts).
fn forbidden_strings(root: &Path) -> Vec<String> {
    // Spelled in pieces so that this file does not name them itself.
    let mut forbidden = vec![format!("/{}/", "work"), format!("/{}/", "root")];
    let mut add_dir = |dir: &Path| {
        let text = dir.display().to_string();
        if text.len() > 1 {
            forbidden.push(format!("{}/", text.trim_end_matches('/')));
        }
    };
    add_dir(root);
    if let Some(parent) = root.parent() {
        add_dir(parent);
    }
    if let Some(home) = std::env::var_os("HOME") {
        add_dir(Path::new(&home));
    }
    for host in [
        ["crates", "io"],
        ["pypi", "org"],
        ["pythonhosted", "org"],
        ["npmjs", "org"],
        ["npmjs", "com"],
        ["debian", "org"],
        ["yarnpkg", "com"],
    ] {
        forbidden.push(host.join("."));
    }
    forbidden.sort();
    forbidden.dedup();
    forbidden
}

#[test]
fn no_file_names_a_machine_path_or_a_registry_host() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let forbidden = forbidden_strings(root);
    let files = repository_files(root);
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut found = Vec::new();
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Cargo writes its registry's source into lock files itself.
        if name == "Cargo.lock" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // binary files
        };
        for needle in &forbidden {
            if let Some(at) = text.find(needle.as_str()) {
                let line = text[..at].lines().count().max(1);
                let shown = file.strip_prefix(root).unwrap_or(&file).display();
                found.push(format!("{shown}:{line}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "files naming a machine path or a registry host: {found:?}"
    );
}

#[test]
fn the_path_check_sees_what_it_looks_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let forbidden = forbidden_strings(root);
    let here = format!("{}/src/main.rs", root.display());
    assert!(forbidden.iter().any(|f| here.contains(f.as_str())));
    let host = format!("see {}.org", "pypi");
    assert!(forbidden.iter().any(|f| host.contains(f.as_str())));
    assert!(!forbidden
        .iter()
        .any(|f| "cargo install spoor-loadgen".contains(f.as_str())));
}
