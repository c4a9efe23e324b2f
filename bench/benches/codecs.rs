//! Serialization cost per format and payload: encode and decode times (criterion) and
//! encoded sizes raw, gzip and zstd (a JSON file next to criterion's results).
//!
//! Shaped like rust_serialization_benchmark: one file per format in `formats/`, each with
//! the same `bench(name, c, data)`, each asserting once, before timing, that
//! `decode(encode(data))` equals the domain data. Adding a format is one file and one name
//! in `formats!` (`formats/mod.rs`).
//!
//! What is encoded, per payload profile of `domain/profiles.toml` (fixtures with seed 42):
//! - `user`: the first user in full;
//! - `orders`: the first page of 100 orders in id order (all of them when fewer), as the
//!   store lists it.
//!
//! Formats (each file's docs say exactly what is timed):
//! - `json`: serde_json of the REST bodies (`User`; `{"data": [...], "next_cursor": ...}`);
//! - `protobuf`: prost `User` / `OrderPage`; the domain → prost conversion is inside the
//!   timed encode and the prost → domain conversion inside the timed decode, as gRPC pays them;
//! - `graphql`: an async-graphql execution of the catalog's query plus serializing its JSON
//!   response (encode), parsing that response back to domain values (decode);
//! - `ws`: the WebSocket `reply` message to a String and back.
//!
//! Names and paths (the report reads them through `wirebench_report::codecs`):
//! - criterion group `codec/{format}/{dataset}`, function `encode` | `decode`, parameter the
//!   payload name; criterion 0.8 writes
//!   `target/criterion/codec_{format}_{dataset}/{encode|decode}/{payload}/new/estimates.json`
//!   (`/` in the group name becomes `_`; `new/benchmark.json` keeps the real names);
//! - sizes: `target/criterion/wirebench-codec-sizes.json`, an array of `{format, dataset,
//!   payload, raw_bytes, gzip_bytes, zstd_bytes}`, written on every run, test mode included;
//! - provenance: `target/criterion/wirebench-codec-run.json`, `{git_revision, measured_at,
//!   args}`, written after a measuring run (not in test mode).
//!
//! Run: `cargo bench -p wirebench --bench codecs` (quick: append
//! `-- --warm-up-time 0.2 --measurement-time 0.5`); `cargo test -p wirebench --bench codecs`
//! runs each benchmark once.

mod formats;

use std::path::PathBuf;

use criterion::Criterion;
use wirebench_domain::Profiles;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let profiles = Profiles::builtin();
    let mut profiles: Vec<_> = profiles.iter().collect();
    // Smallest first: by line items in the shop, then by text per user.
    profiles.sort_by_key(|p| {
        (u64::from(p.users) * u64::from(p.orders_per_user) * u64::from(p.items_per_order), p.bio_chars)
    });

    let mut sizes = Vec::new();
    let groups = profiles.len() * formats::FORMATS.len();
    let mut done = 0;
    for profile in profiles {
        let data = formats::Data::new(profile);
        for (name, bench) in formats::FORMATS {
            done += 1;
            // `scripts/codecs.sh` shows only the lines that start with "codecs:".
            println!("codecs: [{done:>2}/{groups}] {name:<8} user and orders, payload {}", profile.name);
            sizes.extend(bench(name, &mut c, &data));
        }
    }

    let dir = criterion_dir();
    match wirebench_report::codecs::write_sizes(&dir, &sizes) {
        Ok(path) => println!("codecs: {} encoded sizes written to {}", sizes.len(), path.display()),
        Err(e) => {
            eprintln!("cannot write the codec sizes to {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    c.final_summary();
    // Criterion measures only when cargo passes `--bench`; `cargo test` runs each bench once.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bench") {
        let run = wirebench_report::codecs::CodecRun {
            git_revision: env!("WIREBENCH_GIT").to_owned(),
            measured_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            args,
        };
        if let Err(e) = wirebench_report::codecs::write_run(&dir, &run) {
            eprintln!("cannot write the codec run's provenance to {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}

/// Criterion's output directory, found the way criterion 0.8 finds it: `$CRITERION_HOME`,
/// else `$CARGO_TARGET_DIR/criterion`, else the target directory `cargo metadata` names,
/// else the target directory this binary was built in (the ancestor with cargo's
/// `CACHEDIR.TAG`), else `target/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    let from_metadata = || {
        let output = std::process::Command::new(std::env::var_os("CARGO")?)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        Some(PathBuf::from(metadata.get("target_directory")?.as_str()?))
    };
    let from_exe = || {
        let exe = std::env::current_exe().ok()?;
        exe.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(PathBuf::from)
    };
    from_metadata()
        .or_else(from_exe)
        .map_or_else(|| PathBuf::from("target/criterion"), |target| target.join("criterion"))
}
