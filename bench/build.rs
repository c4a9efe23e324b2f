//! Records how this binary was built, for the environment section of every results file:
//! the rustc version, the git revision, and the versions of the crates that shape the wire.

use std::process::Command;

/// Crates whose versions go into results.json.
const CRATES: &[&str] =
    &["tokio", "hyper", "axum", "h2", "tonic", "prost", "async-graphql", "tokio-tungstenite", "serde_json"];

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WIREBENCH_RUSTC={rustc_version}");

    let git = output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=WIREBENCH_GIT={git}{}", if dirty { "-dirty" } else { "" });
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");

    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let mut versions = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), &name)
            && CRATES.contains(&n.as_str())
        {
            versions.push(format!("{n}={}", v.trim_matches('"')));
        }
    }
    println!("cargo:rustc-env=WIREBENCH_CRATES={}", versions.join(","));
}
