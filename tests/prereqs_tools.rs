//! Tests of `scripts/missing-ui-tools.sh` and
//! `scripts/missing-deploy-tools.sh`, the checks the UI and deploy
//! installers use to decide what to install.
//!
//! In: a search path of directories built in temporary directories, holding
//! some of the commands a Debian machine may have (executable or not), and
//! a project tree with or without the stamps of earlier installs. Out: the
//! packages and installs each script says are missing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// A directory holding a shell script at each of `tools`: (name, exit
/// status, executable).
fn bin_dir(tools: &[(&str, i32, bool)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, status, executable) in tools {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\nexit {status}\n")).unwrap();
        let mode = if *executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    dir
}

/// Runs `name` on `project` with `search` as the search path; its lines.
fn missing(name: &str, project: &Path, search: &[&Path]) -> Vec<String> {
    let search: Vec<String> = search.iter().map(|p| p.display().to_string()).collect();
    let out = Command::new("bash")
        .arg(script(name))
        .arg(project)
        .env("SPOOR_TOOL_PATH", search.join(":"))
        .output()
        .expect("running the script");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A project tree with `ui/package-lock.json` and, when given, the stamp of
/// an install from `stamp`.
fn ui_project(stamp: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("ui/node_modules")).unwrap();
    std::fs::write(dir.path().join("ui/package-lock.json"), "{\"lock\": 2}\n").unwrap();
    if let Some(stamp) = stamp {
        std::fs::write(dir.path().join("ui/node_modules/.spoor-lock-stamp"), stamp).unwrap();
    }
    dir
}

#[test]
fn a_bare_machine_needs_every_ui_tool() {
    let project = ui_project(None);
    let empty = bin_dir(&[]);
    assert_eq!(
        missing("missing-ui-tools.sh", project.path(), &[empty.path()]),
        ["chromium", "nodejs", "npm", "node_modules"]
    );
}

#[test]
fn ui_tools_present_and_installed_from_this_lock_need_nothing() {
    let project = ui_project(Some("{\"lock\": 2}\n"));
    let usr = bin_dir(&[("node", 0, true), ("npm", 0, true)]);
    let other = bin_dir(&[("chromium", 0, true)]);
    assert!(missing(
        "missing-ui-tools.sh",
        project.path(),
        &[usr.path(), other.path()]
    )
    .is_empty());
}

#[test]
fn a_changed_lock_or_a_command_that_is_not_executable_is_missing() {
    let project = ui_project(Some("{\"lock\": 1}\n"));
    // chromium-browser is not the package's command; a chromium file that
    // cannot run does not count.
    let bin = bin_dir(&[
        ("node", 0, true),
        ("npm", 0, true),
        ("chromium", 0, false),
        ("chromium-browser", 0, true),
    ]);
    assert_eq!(
        missing("missing-ui-tools.sh", project.path(), &[bin.path()]),
        ["chromium", "node_modules"]
    );
}

/// A project tree with `scripts/deploy-tools.pins` and, when given, a venv
/// made from `stamp` (with or without its python).
fn deploy_project(stamp: Option<&str>, venv_python: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("scripts/deploy-tools.pins"),
        "pytest==8.3.4\n",
    )
    .unwrap();
    let venv = dir.path().join("target/deploy-venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    if let Some(stamp) = stamp {
        std::fs::write(venv.join(".deploy-pins"), stamp).unwrap();
    }
    if venv_python {
        let python = venv.join("bin/python");
        std::fs::write(&python, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn a_bare_machine_needs_every_deploy_tool() {
    let project = deploy_project(None, false);
    let empty = bin_dir(&[]);
    assert_eq!(
        missing("missing-deploy-tools.sh", project.path(), &[empty.path()]),
        ["prometheus", "python3", "python3-venv", "deploy-venv"]
    );
}

#[test]
fn promtool_alone_is_not_prometheus_and_a_python_without_venv_needs_it() {
    let project = deploy_project(Some("pytest==8.3.4\n"), true);
    // python3 that cannot import venv/ensurepip exits 1.
    let bin = bin_dir(&[("promtool", 0, true), ("python3", 1, true)]);
    assert_eq!(
        missing("missing-deploy-tools.sh", project.path(), &[bin.path()]),
        ["prometheus", "python3-venv"]
    );
}

#[test]
fn deploy_tools_present_and_a_venv_from_these_pins_need_nothing() {
    let project = deploy_project(Some("pytest==8.3.4\n"), true);
    let bin = bin_dir(&[
        ("promtool", 0, true),
        ("prometheus", 0, true),
        ("python3", 0, true),
    ]);
    assert!(missing("missing-deploy-tools.sh", project.path(), &[bin.path()]).is_empty());
}

#[test]
fn changed_pins_or_a_venv_without_python_make_the_venv_again() {
    let bin = bin_dir(&[
        ("promtool", 0, true),
        ("prometheus", 0, true),
        ("python3", 0, true),
    ]);
    let changed = deploy_project(Some("pytest==8.0.0\n"), true);
    assert_eq!(
        missing("missing-deploy-tools.sh", changed.path(), &[bin.path()]),
        ["deploy-venv"]
    );
    let broken = deploy_project(Some("pytest==8.3.4\n"), false);
    assert_eq!(
        missing("missing-deploy-tools.sh", broken.path(), &[bin.path()]),
        ["deploy-venv"]
    );
}

#[test]
fn the_path_is_searched_when_no_search_path_is_given() {
    // The tools are in a directory on PATH (ahead of the system's, which
    // may or may not have them): nothing but the dev tools is missing.
    let project = ui_project(None);
    let bin = bin_dir(&[("chromium", 0, true), ("node", 0, true), ("npm", 0, true)]);
    let out = Command::new("/bin/bash")
        .arg(script("missing-ui-tools.sh"))
        .arg(project.path())
        .env_remove("SPOOR_TOOL_PATH")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "node_modules\n");
}
