//! Tests of `scripts/find-libclang.sh`, the check `install-prereqs.sh` uses to
//! decide whether libclang (RocksDB's bindings need it at build time) must be
//! installed.
//!
//! In: file-system trees built in temporary directories, each holding some
//! of the libraries a Debian machine may have. Out: whether the script finds
//! a libclang that bindgen can load, and which one.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/find-libclang.sh")
}

/// A tree holding an empty file at each of `files` (relative paths).
fn tree(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"").unwrap();
    }
    dir
}

/// Runs the script on `root`; `Some(path found, relative to root)` or `None`.
fn find(root: &Path, libclang_path: Option<&str>) -> Option<String> {
    let mut command = Command::new("bash");
    command.arg(script()).arg(root).env_remove("LIBCLANG_PATH");
    if let Some(path) = libclang_path {
        command.env("LIBCLANG_PATH", path);
    }
    let out = command.output().expect("running find-libclang.sh");
    match out.status.code() {
        Some(0) => {
            let found = String::from_utf8(out.stdout).unwrap().trim().to_owned();
            let relative = found
                .strip_prefix(&root.display().to_string())
                .expect("the path found lies under the root")
                .to_owned();
            Some(relative)
        }
        Some(1) => None,
        other => panic!(
            "find-libclang.sh failed ({other:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn the_cpp_interface_library_alone_is_not_libclang() {
    // What the machine image ships: libclang-cpp14 and nothing else.
    let root = tree(&[
        "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
        "usr/lib/llvm-14/lib/libclang-cpp.so.14",
        "usr/lib/llvm-14/lib/libclangBasic.a",
    ]);
    assert_eq!(find(root.path(), None), None);
}

#[test]
fn a_versioned_libclang_is_found() {
    // What Debian's libclang1-14 installs.
    let root = tree(&[
        "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.1",
    ]);
    assert_eq!(
        find(root.path(), None).as_deref(),
        Some("/usr/lib/x86_64-linux-gnu/libclang-14.so.1")
    );
}

#[test]
fn the_unversioned_development_link_is_found() {
    let root = tree(&["usr/lib/llvm-16/lib/libclang.so"]);
    assert_eq!(
        find(root.path(), None).as_deref(),
        Some("/usr/lib/llvm-16/lib/libclang.so")
    );
}

#[test]
fn an_empty_machine_has_none() {
    let root = tree(&[]);
    assert_eq!(find(root.path(), None), None);
}

#[test]
fn libclang_path_is_honoured() {
    let root = tree(&["opt/llvm/lib/libclang.so.18.1"]);
    assert_eq!(
        find(root.path(), Some("/opt/llvm/lib")).as_deref(),
        Some("/opt/llvm/lib/libclang.so.18.1")
    );
    // A LIBCLANG_PATH holding only the C++ library does not count.
    let root = tree(&["opt/llvm/lib/libclang-cpp.so.18"]);
    assert_eq!(find(root.path(), Some("/opt/llvm/lib")), None);
}

#[test]
fn this_machine_has_libclang_after_the_prerequisites_ran() {
    // ./test.sh runs install-prereqs.sh first, so the real root must have one.
    assert!(
        find(
            Path::new("/"),
            std::env::var("LIBCLANG_PATH").ok().as_deref()
        )
        .is_some(),
        "no libclang on this machine although install-prereqs.sh ran"
    );
}
