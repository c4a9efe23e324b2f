//! The machine a run measures on, as `results.json` records it: this machine's description
//! read at the start of a run, and how this binary was built (see `bench/build.rs`).

use wirebench_results::{Environment, IdleCpus};

/// Reads this machine's description.
pub fn detect(server_cores: Vec<usize>, client_cores: Vec<usize>, idle_cpus: IdleCpus) -> Environment {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let crate_versions = env!("WIREBENCH_CRATES")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Environment {
        cpu_model,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().into()),
        os: std::env::consts::OS.to_owned(),
        rustc: env!("WIREBENCH_RUSTC").to_owned(),
        git_revision: env!("WIREBENCH_GIT").to_owned(),
        wirebench_version: env!("CARGO_PKG_VERSION").to_owned(),
        crate_versions,
        server_cores,
        client_cores,
        release_build: !cfg!(debug_assertions),
        server_allocator: None,
        idle_cpus,
    }
}
