//! What a run needs beside its cells (the fixtures, the server, where results go and how
//! they are printed), read from the command line once, by [`super::plan::Plan::new`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::{RunArgs, RunProfile};

/// What the run needs beside its cells, read from the command line once, here: the
/// fixtures, the server, where results go and how they are printed.
#[derive(Debug, Clone)]
pub struct Setup {
    pub profile: RunProfile,
    /// N: orders per page, stream, import and conversation.
    pub n: u32,
    /// The fixtures' seed.
    pub seed: u64,
    /// Simulated latency per store call on the spawned server.
    pub store_latency_us: u64,
    /// Servers already running (none: the run spawns its own).
    pub target: Option<String>,
    /// With a target: its process id, to measure its CPU and memory.
    pub server_pid: Option<u32>,
    /// A file of more network profiles (`--networks`).
    pub networks_file: Option<PathBuf>,
    /// With a target: its TLS certificate.
    pub tls_cert: Option<PathBuf>,
    /// This process's shard of a sharded run.
    pub shard: Option<crate::shard::Shard>,
    /// A call slower than this is an error.
    pub call_timeout: Duration,
    /// Whether idle CPUs may sleep during the run.
    pub allow_idle: bool,
    /// Where results and reports go.
    pub out: PathBuf,
    /// How the terminal summary is printed.
    pub format: wirebench_report::summary::Format,
    /// Print the plan and stop.
    pub dry_run: bool,
}

impl Setup {
    pub(super) fn of(args: &RunArgs) -> anyhow::Result<Setup> {
        if !(args.call_timeout.is_finite() && args.call_timeout > 0.0) {
            bail!("--call-timeout: a positive number of seconds, not {}", args.call_timeout);
        }
        Ok(Setup {
            profile: args.profile,
            n: args.n,
            seed: args.seed,
            store_latency_us: args.store_latency_us,
            target: args.target.clone(),
            server_pid: args.server_pid,
            networks_file: args.networks.clone(),
            tls_cert: args.tls_cert.clone(),
            shard: args.shard,
            call_timeout: Duration::from_secs_f64(args.call_timeout),
            allow_idle: args.allow_idle,
            out: args.out.clone(),
            format: args.format,
            dry_run: args.dry_run,
        })
    }
}
