//! The `wirebench` command line.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "wirebench", version, about = "How services talk, measured.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the shop over every protocol on loopback until Ctrl-C.
    Serve(wirebench::serve::ServeArgs),
    /// Measure: start the servers, check equivalence, sweep, write reports/<time>/results.json.
    Run(Box<wirebench::run::RunArgs>),
    /// Faults and retries: each protocol, operation, fault and retry policy, and recovery from
    /// an outage near capacity; writes reports/faults-<time>/faults.json and faults.html.
    Faults(Box<wirebench::faults::FaultsArgs>),
    /// Add the results of a sharded run's shards (`run --shard I/N`) into one, without loss.
    Merge(wirebench::merge::MergeArgs),
    /// What changed between two results files (terminal table and an HTML page).
    Compare(wirebench_report::compare::CompareArgs),
    /// Render index.html beside a results.json (charts, claims checked, findings).
    Report {
        /// The results.json to render.
        results: PathBuf,
        /// criterion's output directory with the codec benches (default: target/criterion).
        #[arg(long)]
        criterion: Option<PathBuf>,
        /// More claims to check, in the shape of report/claims.toml.
        #[arg(long)]
        claims: Option<PathBuf>,
    },
    /// List the protocol variants and what each sends over the wire.
    Protocols,
    /// Write the generated contracts (OpenAPI, SDL, JSON schemas) into a directory, or check them.
    Schemas {
        /// Directory to write to.
        #[arg(long, default_value = "schema")]
        out: PathBuf,
        /// Do not write; fail if the files differ from what the code generates.
        #[arg(long)]
        check: bool,
    },
    /// Write the README's figures from a results file (the committed sample), or check them.
    Sample {
        /// The results file the figures come from.
        #[arg(long, default_value = wirebench_report::sample::SAMPLE)]
        results: PathBuf,
        /// The README holding the generated block.
        #[arg(long, default_value = "README.md")]
        readme: PathBuf,
        /// Do not write; fail if the README's figures differ from the results'.
        #[arg(long)]
        check: bool,
    },
}

/// Errors end the program with one line on stderr and exit code 1: never a backtrace, even
/// with `RUST_BACKTRACE` set (an interrupted run is not a crash).
fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Pin before the runtime exists: its worker threads inherit the affinity, and there are
    // as many of them as cores to run on (two threads taking turns on one core only add
    // context switches to every request).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(args) = &cli.command
        && !args.cpus.is_empty()
    {
        let mut set = rustix::thread::CpuSet::new();
        for core in &args.cpus {
            set.set(*core);
        }
        rustix::thread::sched_setaffinity(None, &set)
            .with_context(|| format!("pinning the server to cores {:?}", args.cpus))?;
        builder.worker_threads(args.cpus.len());
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => wirebench::serve::run(args).await,
            Command::Run(args) => wirebench::run::run(*args).await.map(|_| ()),
            Command::Faults(args) => wirebench::faults::run(*args).await.map(|_| ()),
            Command::Merge(args) => wirebench::merge::run(&args).map(|_| ()),
            Command::Compare(args) => wirebench_report::compare::run(&args).map(|_| ()),
            Command::Report { results, criterion, claims } => {
                let opts = wirebench_report::ReportOptions { criterion, claims };
                println!("{}", wirebench_report::write(&results, &opts)?.display());
                Ok(())
            }
            Command::Protocols => {
                for p in wirebench_engine::clients::PROTOCOLS {
                    println!("{:<14} (server {:<7}) {}", p.name(), p.server(), p.describe());
                }
                Ok(())
            }
            Command::Schemas { out, check } => {
                if check {
                    let drifted = wirebench::contracts::drifted(&out);
                    if !drifted.is_empty() {
                        bail!(
                            "out of date in {}: {} (run `make schemas`)",
                            out.display(),
                            drifted.join(", ")
                        );
                    }
                    println!("contracts in {} match the code", out.display());
                } else {
                    for name in wirebench::contracts::write(&out)? {
                        println!("wrote {}", out.join(name).display());
                    }
                }
                Ok(())
            }
            Command::Sample { results, readme, check } => sample(&results, &readme, check),
        }
    })
}

/// `wirebench sample`: the README's generated block from `results`.
fn sample(results: &std::path::Path, readme: &std::path::Path, check: bool) -> anyhow::Result<()> {
    let r = wirebench_results::Results::read(results)?;
    let block = wirebench_report::sample::block(&r)?;
    let text = std::fs::read_to_string(readme).with_context(|| format!("reading {}", readme.display()))?;
    if check {
        if wirebench_report::sample::current(&text)? != block.trim_matches('\n') {
            bail!("{}'s figures differ from {} (run `make sample`)", readme.display(), results.display());
        }
        println!("{} matches {}", readme.display(), results.display());
        return Ok(());
    }
    std::fs::write(readme, wirebench_report::sample::splice(&text, &block)?)
        .with_context(|| format!("writing {}", readme.display()))?;
    println!("wrote the figures of {} into {}", results.display(), readme.display());
    Ok(())
}
