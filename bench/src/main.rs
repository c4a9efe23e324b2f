//! The `wirebench` command line.

use std::path::PathBuf;

use anyhow::bail;
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
    /// Write the generated contracts (OpenAPI, ...) into a directory, or check them.
    Schemas {
        /// Directory to write to.
        #[arg(long, default_value = "schema")]
        out: PathBuf,
        /// Do not write; fail if the files differ from what the code generates.
        #[arg(long)]
        check: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => wirebench::serve::run(args).await,
        Command::Schemas { out, check } => {
            if check {
                let drifted = wirebench::contracts::drifted(&out);
                if !drifted.is_empty() {
                    bail!("out of date in {}: {} (run `make schemas`)", out.display(), drifted.join(", "));
                }
                println!("contracts in {} match the code", out.display());
            } else {
                for name in wirebench::contracts::write(&out)? {
                    println!("wrote {}", out.join(name).display());
                }
            }
            Ok(())
        }
    }
}
