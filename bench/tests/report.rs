//! The HTML report as a reader gets it: a smoke run writes results.json and index.html,
//! `wirebench report` re-renders it with an extra claims file, and headless Chromium
//! (`bench/tests/browser/check.mjs`, playwright-core) loads the page: no console or page
//! errors, no network requests, every chart an SVG with something drawn. The full-page
//! screenshot is kept as `target/tmp/report.png`.
//!
//! Needs node, /usr/bin/chromium and the npm package; the test fails (it never skips) when
//! one is missing, naming the step that installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{tempdir, wirebench};

const INSTALL: &str = "apt-get update && apt-get install -y chromium && (cd bench/tests/browser && npm ci) \
                       (node >= 20 is needed by playwright-core)";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("browser")
}

/// Fails with the install step when a tool the browser check needs is missing.
fn require_browser_tools() {
    let node = Command::new("node").arg("--version").output();
    let version = node
        .as_ref()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let major =
        version.as_deref().and_then(|v| v.trim_start_matches('v').split('.').next()?.parse::<u32>().ok());
    assert!(
        major.is_some_and(|m| m >= 20),
        "node >= 20 is missing (found {version:?}); install the browser check's tools: {INSTALL}"
    );
    let chromium =
        std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(chromium.exists(), "{} is missing; install it: {INSTALL}", chromium.display());
    let pw = browser_dir().join("node_modules").join("playwright-core");
    assert!(pw.exists(), "{} is missing; install it: {INSTALL}", pw.display());
}

/// A user's claims file: one new claim, one replacing a built-in claim.
const USER_CLAIMS: &str = r#"
[[claim]]
id = "user-test-claim"
claim = "The floor needs one round trip for get-user"
kind = "value"
metric = "round_trips_per_op"
operation = "get-user"
subject = "floor"
claimed = 1
tolerance = 0

[[claim]]
id = "grpc-faster-than-rest"
claim = "Replaced: gRPC needs no more round trips than REST for get-user"
kind = "ratio"
metric = "round_trips_per_op"
operation = "get-user"
numerator = "grpc"
denominator = "rest"
claimed = 1
direction = "at_most"
"#;

#[test]
fn report_renders_and_loads_cleanly_in_a_browser() {
    require_browser_tools();
    let out = tempdir("smoke");
    let run = wirebench()
        .args([
            "run",
            "--profile",
            "smoke",
            "--no-pin",
            "--protocols",
            "rest,grpc,floor,floor-echo,ws,graphql",
            "--out",
        ])
        .arg(&out)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "wirebench run failed:\n{stdout}");
    let results = out.join("latest").join("results.json");
    let index = out.join("latest").join("index.html");
    assert!(stdout.lines().any(|l| l.starts_with("report: ") && l.ends_with("index.html")), "{stdout}");
    assert!(index.is_file(), "the run did not write {}", index.display());

    // Re-render with a user's claims and an empty criterion directory (serialization "not measured").
    let claims = out.join("claims.toml");
    std::fs::write(&claims, USER_CLAIMS).unwrap();
    let criterion = out.join("no-criterion");
    let report = wirebench()
        .arg("report")
        .arg(&results)
        .arg("--claims")
        .arg(&claims)
        .arg("--criterion")
        .arg(&criterion)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert_eq!(String::from_utf8_lossy(&report.stdout).trim(), index.display().to_string());

    let html = std::fs::read_to_string(&index).unwrap();
    for needle in [
        "Which protocol, for which operation, by how much",
        "Best for, avoid when",
        "Findings",
        "user-orders takes rest 2 round trips",
        "Measurement health:",
        "Not in this run",
        "Claims checked",
        "user-test-claim",
        "Replaced: gRPC needs no more round trips",
        "cargo bench -p wirebench --bench codecs",
        "Median latency above the raw-TCP floor",
        "above the floor",
        "Equivalence",
        "--profile smoke",
    ] {
        assert!(html.contains(needle), "the page lacks {needle:?}");
    }
    assert!(!html.contains("gRPC is about 7x faster"), "a user claim with a built-in id replaces it");
    // One inline script (the filters), nothing loaded from anywhere.
    assert_eq!(html.matches("<script").count(), 1, "one inline script");
    for banned in ["<script src", "src=\"http", "href=\"http", "url(http"] {
        assert!(!html.contains(banned), "the page is not self-contained: {banned}");
    }

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let first_screen = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-first-screen.png");
    let check = Command::new("node")
        .arg(browser_dir().join("check.mjs"))
        .arg(&index)
        .arg(&screenshot)
        .arg(&first_screen)
        .current_dir(browser_dir())
        .output()
        .unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "browser check failed (page kept in {}):\n{said}", out.display());
    let shot = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(shot > 10_000, "screenshot {} is missing or empty", screenshot.display());
    eprintln!("{said}");
    let _ = std::fs::remove_dir_all(&out);
}
