//! What the harness's integration tests share: the binary, scratch folders, results files.
#![allow(dead_code, reason = "each test file uses its own subset of these helpers")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `wirebench` binary this test run built.
pub fn wirebench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wirebench"))
}

/// A fresh, empty scratch folder named after the test and this process.
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirebench-test-{tag}-{}", std::process::id()));
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", dir.display()),
        _ => {}
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The newest run's `results.json` under a reports folder, as JSON.
pub fn results_of(dir: &Path) -> serde_json::Value {
    let latest = dir.join("latest").join("results.json");
    let text = std::fs::read_to_string(&latest).unwrap_or_else(|e| panic!("{}: {e}", latest.display()));
    serde_json::from_str(&text).unwrap()
}
