//! The allocator's built-in options (`.cargo/config.toml`): jemalloc in the
//! `spoor` binary returns freed pages after 1 s, keeps no lazily freed
//! pages, purges on its background threads, and has one arena per CPU.
//!
//! In: the built binary, run with jemalloc's `stats_print` (which prints
//! its effective options at exit). Out: assertions on those options.

use std::process::Command;

#[test]
fn the_binary_returns_freed_memory_within_a_second() {
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .arg("--version")
        .env("MALLOC_CONF", "stats_print:true")
        .output()
        .expect("running spoor --version");
    assert!(out.status.success(), "{out:?}");
    let stats = String::from_utf8_lossy(&out.stderr);
    for option in [
        "opt.dirty_decay_ms: 1000",
        "opt.muzzy_decay_ms: 0",
        "opt.background_thread: true",
        "opt.percpu_arena: \"percpu\"",
    ] {
        assert!(
            stats.contains(option),
            "jemalloc is not built with {option:?}; its options:\n{}",
            stats
                .lines()
                .filter(|l| l.contains("opt."))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
