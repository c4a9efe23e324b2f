//! The control channel between `wirebench run` and the `wirebench serve` child it starts:
//! JSON lines on the child's stdin, answers on its stdout as lines prefixed `control: ` (other
//! output of the child is not for the harness and is skipped). Nothing listens on a port:
//! only the parent can ask.
//!
//! Through it the harness reads what only the server knows: how many store calls it has
//! made ([`Command::Calls`]), what its own store answers a read now ([`Command::Expect`]),
//! and the orders a timed cell created, read back from the store itself
//! ([`Command::Orders`]); and through it every cell starts from the same state
//! ([`Command::Reset`]: the fixtures again, no idempotency key, the peak RSS counted anew).

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{ChildStdin, ChildStdout};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use wirebench_domain::{Fixtures, Id, Order, Store};

use crate::catalog::{OpParams, Operation, Outcome, expected};

/// The prefix of the child's answers on its stdout.
const PREFIX: &str = "control: ";
/// How long an answer may take before the channel counts as dead.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the harness may ask.
// One command per message on a pipe: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Store calls made so far.
    Calls,
    /// The store's own answer to a read (none for a write).
    Expect { op: Operation, params: OpParams },
    /// These orders as the store holds them (`null` for one it does not have).
    Orders { ids: Vec<Id> },
    /// The store back to its fixtures, and the server's peak RSS counted from now.
    Reset,
    /// Connections the servers have accepted so far.
    Accepted,
    /// Injects this plan's faults into the store's calls from now (`null`: none).
    Faults { plan: Option<wirebench_domain::faults::FaultPlan> },
}

/// What the server answers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Calls {
        calls: u64,
    },
    /// `calls`: the store calls computing this answer made.
    Expected {
        outcome: Option<Outcome>,
        calls: u64,
    },
    /// `calls`: the store calls reading them made; `kept_from`: the oldest created order
    /// the store still keeps (one created before it was forgotten by the store's bound).
    Orders {
        orders: Vec<Option<Order>>,
        calls: u64,
        kept_from: Id,
    },
    /// The server's resident set after the reset, and whether its peak was reset too.
    Reset {
        rss_bytes: Option<u64>,
        peak_reset: bool,
    },
    Accepted {
        connections: u64,
    },
    /// What the replaced plan injected, and the id the store's next created order gets (so
    /// the orders created between two answers are their difference).
    Faults {
        injected: wirebench_domain::faults::FaultCounts,
        next_order_id: Id,
    },
    Error {
        message: String,
    },
}

/// Serves the control channel on this process's stdin and stdout until stdin closes.
pub async fn serve(store: std::sync::Arc<Store>, fixtures: impl Fn() -> Fixtures) -> std::io::Result<()> {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let reply = match serde_json::from_str::<Command>(&line) {
            Ok(Command::Reset) => {
                store.reset(&fixtures);
                // The old contents are freed; without this glibc keeps their pages resident
                // and every cell would start as large as the largest before it.
                wirebench_wire::kernel::release_free_heap();
                let peak_reset = wirebench_wire::kernel::reset_peak_rss(None).is_ok();
                Reply::Reset { rss_bytes: wirebench_wire::kernel::rss(None), peak_reset }
            }
            // The harness's own reads never pay the simulated store latency.
            Ok(cmd) => wirebench_domain::store::unpaced(answer(&store, cmd)).await,
            Err(e) => Reply::Error { message: format!("not a command: {e}") },
        };
        let mut text = PREFIX.to_owned();
        text.push_str(&serde_json::to_string(&reply).expect("replies serialize"));
        text.push('\n');
        out.write_all(text.as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

async fn answer(store: &Store, cmd: Command) -> Reply {
    let before = store.calls();
    match cmd {
        Command::Calls => Reply::Calls { calls: before },
        Command::Expect { op, params } => match expected(store, op, &params).await {
            Ok(outcome) => Reply::Expected { outcome, calls: store.calls() - before },
            Err(e) => Reply::Error { message: e.to_string() },
        },
        Command::Reset => Reply::Error { message: "reset is answered by the channel".into() },
        Command::Accepted => Reply::Accepted { connections: wirebench_servers::tcp::accepted() },
        Command::Faults { plan } => {
            Reply::Faults { injected: store.set_faults(plan), next_order_id: store.next_order_id() }
        }
        Command::Orders { ids } => {
            let mut orders = Vec::with_capacity(ids.len());
            for id in ids {
                // None: the store has no such order (its only error for a read by id).
                orders.push(store.get_order(id).await.ok());
            }
            Reply::Orders { orders, calls: store.calls() - before, kept_from: store.kept_from() }
        }
    }
}

/// The harness's end of the channel to a child it started.
#[derive(Debug)]
pub struct Control {
    stdin: Mutex<ChildStdin>,
    answers: Mutex<Receiver<String>>,
    /// Store calls the channel's own questions made, so far.
    caused: std::sync::atomic::AtomicU64,
}

impl Control {
    /// Takes over the child's stdin and stdout; a thread reads the answers.
    pub fn new(stdin: ChildStdin, stdout: ChildStdout) -> Control {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(answer) = line.strip_prefix(PREFIX)
                    && tx.send(answer.to_owned()).is_err()
                {
                    return;
                }
            }
        });
        Control { stdin: Mutex::new(stdin), answers: Mutex::new(rx), caused: Default::default() }
    }

    /// Asks one thing and waits (bounded) for the answer.
    pub fn ask(&self, cmd: &Command) -> anyhow::Result<Reply> {
        let answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        {
            let mut stdin = self.stdin.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut line = serde_json::to_string(cmd).expect("commands serialize");
            line.push('\n');
            stdin.write_all(line.as_bytes()).context("writing to the server's control channel")?;
            stdin.flush().context("writing to the server's control channel")?;
        }
        let text = match answers.recv_timeout(ANSWER_TIMEOUT) {
            Ok(text) => text,
            Err(RecvTimeoutError::Timeout) => {
                bail!("the server did not answer on its control channel in time")
            }
            Err(RecvTimeoutError::Disconnected) => bail!("the server's control channel closed"),
        };
        match serde_json::from_str(&text).context("reading the server's control answer")? {
            Reply::Error { message } => bail!("the server's control channel: {message}"),
            reply => Ok(reply),
        }
    }

    /// Puts the server's store back to its fixtures and restarts its peak RSS; returns its
    /// resident set after the reset, and whether the peak could be restarted.
    pub fn reset(&self) -> anyhow::Result<(Option<u64>, bool)> {
        match self.ask(&Command::Reset)? {
            Reply::Reset { rss_bytes, peak_reset } => Ok((rss_bytes, peak_reset)),
            other => bail!("the server answered a reset with {other:?}"),
        }
    }

    /// Injects `plan` into the server's store from now (none: stops injecting); returns what
    /// the replaced plan injected and the id of the next order the store will create.
    pub fn faults(
        &self,
        plan: Option<wirebench_domain::faults::FaultPlan>,
    ) -> anyhow::Result<(wirebench_domain::faults::FaultCounts, Id)> {
        match self.ask(&Command::Faults { plan })? {
            Reply::Faults { injected, next_order_id } => Ok((injected, next_order_id)),
            other => bail!("the server answered a fault plan with {other:?}"),
        }
    }

    /// Connections the server's servers have accepted so far.
    pub fn accepted(&self) -> anyhow::Result<u64> {
        match self.ask(&Command::Accepted)? {
            Reply::Accepted { connections } => Ok(connections),
            other => bail!("the server answered a count of connections with {other:?}"),
        }
    }

    /// Store calls the channel's own questions have made so far (to subtract from
    /// [`Control::calls`]).
    pub fn caused(&self) -> u64 {
        self.caused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cause(&self, calls: u64) {
        self.caused.fetch_add(calls, std::sync::atomic::Ordering::Relaxed);
    }

    /// Store calls the server has made so far.
    pub fn calls(&self) -> anyhow::Result<u64> {
        match self.ask(&Command::Calls)? {
            Reply::Calls { calls } => Ok(calls),
            other => bail!("unexpected control answer {other:?}"),
        }
    }

    /// The server store's own answer to a read now (none for a write).
    pub fn expect(&self, op: Operation, params: &OpParams) -> anyhow::Result<Option<Outcome>> {
        match self.ask(&Command::Expect { op, params: params.clone() })? {
            Reply::Expected { outcome, calls } => {
                self.cause(calls);
                Ok(outcome)
            }
            other => bail!("unexpected control answer {other:?}"),
        }
    }

    /// Orders as the server's store holds them, and the oldest created order it still keeps.
    pub fn orders(&self, ids: Vec<Id>) -> anyhow::Result<(Vec<Option<Order>>, Id)> {
        match self.ask(&Command::Orders { ids })? {
            Reply::Orders { orders, calls, kept_from } => {
                self.cause(calls);
                Ok((orders, kept_from))
            }
            other => bail!("unexpected control answer {other:?}"),
        }
    }
}
