//! Tidy checks on this crate's sources.
//!
//! In: every `.rs` file under `src/`. Out: a failure naming each file that
//! does not start with a `//!` doc saying what flows in and out.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading a source directory") {
        let path = entry.expect("reading a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 5,
        "expected the crate's sources under {}",
        src.display()
    );
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| {
            !std::fs::read_to_string(path)
                .expect("reading a source file")
                .starts_with("//!")
        })
        .map(|path| {
            path.strip_prefix(&src)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a leading //! doc: {undocumented:?}"
    );
}
