//! `wirebench serve`: every protocol server over one shared store, in one process.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use wirebench_domain::{Profiles, Store, StoreConfig};
use wirebench_servers::{Running, SERVERS, ServerConfig, ServerContext};

/// Options of `wirebench serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Payload profile to load (see domain/profiles.toml).
    #[arg(long, default_value = "small")]
    pub payload: String,
    /// Seed for the fixtures; the same seed gives the same shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A profiles file to use instead of the built-in one.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// Address to bind. Loopback by default: nothing here is meant for a network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// First port; each protocol takes the next one, in the order printed. 0 = any free ports.
    #[arg(long, default_value_t = 7800)]
    pub port_base: u16,
    /// Simulated latency added to every store call, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub store_latency_us: u64,
    /// Largest request body or message accepted, in bytes.
    #[arg(long, default_value_t = ServerConfig::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Connections each server holds open at once; more are refused in the protocol's terms.
    #[arg(long, default_value_t = ServerConfig::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds an HTTP/1.1 client has to send a request's headers (also the keep-alive idle
    /// limit) and a WebSocket client to finish its upgrade.
    #[arg(long, default_value_t = ServerConfig::default().header_read_timeout.as_secs_f64(), value_parser = seconds)]
    pub header_read_timeout: f64,
    /// Seconds without a byte in either direction after which a connection is closed.
    #[arg(long, default_value_t = ServerConfig::default().idle_timeout.as_secs_f64(), value_parser = seconds)]
    pub idle_timeout: f64,
    /// Seconds in-flight requests have to finish on Ctrl-C or SIGTERM.
    #[arg(long, default_value_t = ServerConfig::default().grace.as_secs_f64(), value_parser = seconds)]
    pub grace: f64,
    /// Serve TLS beside plaintext on every port (a connection's first byte decides), with a
    /// self-signed certificate made at start for localhost and the bind address.
    #[arg(long)]
    pub tls: bool,
    /// Write that certificate (PEM) to this file, for clients to trust.
    #[arg(long, requires = "tls")]
    pub tls_cert_out: Option<PathBuf>,
    /// Once ready, write `{"server name": "address", ...}` to this file (for `wirebench run`).
    #[arg(long)]
    pub addr_file: Option<PathBuf>,
    /// Pin the server's threads to these cores (comma-separated), e.g. `--cpus 0`.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Answer the harness's control commands on stdin and stdout (see `wirebench_engine::control`):
    /// what `wirebench run` passes to the server child it starts.
    #[arg(long)]
    pub control: bool,
    /// How long an idempotency key is remembered, in seconds (Stripe: 24 hours).
    #[arg(long, default_value_t = wirebench_domain::idempotency::DEFAULT_TTL.as_secs())]
    pub idempotency_ttl_s: u64,
    /// Most idempotency keys remembered; a new key beyond it evicts the oldest.
    #[arg(long, default_value_t = wirebench_domain::idempotency::DEFAULT_CAPACITY)]
    pub idempotency_capacity: usize,
    /// Orders created since the last reset that the store keeps (the oldest is forgotten
    /// first; fixtures never are): bounds the server's memory whatever the write rate.
    #[arg(long, default_value_t = wirebench_domain::store::DEFAULT_MAX_CREATED)]
    pub max_created_orders: usize,
}

impl ServeArgs {
    /// Every server on an ephemeral loopback port, no latency, default limits: what tests
    /// and embedded uses want.
    pub fn ephemeral(payload: &str, seed: u64) -> Self {
        ServeArgs {
            payload: payload.to_owned(),
            seed,
            profiles: None,
            bind: IpAddr::from([127, 0, 0, 1]),
            port_base: 0,
            store_latency_us: 0,
            max_body_bytes: ServerConfig::default().max_body_bytes,
            max_connections: ServerConfig::MAX_CONNECTIONS,
            header_read_timeout: ServerConfig::default().header_read_timeout.as_secs_f64(),
            idle_timeout: ServerConfig::default().idle_timeout.as_secs_f64(),
            grace: ServerConfig::default().grace.as_secs_f64(),
            tls: false,
            tls_cert_out: None,
            addr_file: None,
            cpus: Vec::new(),
            control: false,
            idempotency_ttl_s: wirebench_domain::idempotency::DEFAULT_TTL.as_secs(),
            idempotency_capacity: wirebench_domain::idempotency::DEFAULT_CAPACITY,
            max_created_orders: wirebench_domain::store::DEFAULT_MAX_CREATED,
        }
    }
}

/// A time limit in seconds: a positive, finite number.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

impl ServeArgs {
    /// The limits the servers apply.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            max_body_bytes: self.max_body_bytes,
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs_f64(self.header_read_timeout),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            grace: Duration::from_secs_f64(self.grace),
            tls: None,
        }
    }
}

/// Servers started by [`start`], with the handle that stops them.
#[derive(Debug)]
pub struct Started {
    pub store: Arc<Store>,
    /// What the store was loaded with (a reset loads it again).
    pub profile: wirebench_domain::PayloadProfile,
    pub seed: u64,
    pub servers: Vec<Running>,
    pub shutdown: CancellationToken,
    /// Time in-flight requests have to finish once `shutdown` is cancelled.
    pub grace: Duration,
    /// The servers' TLS certificate, when they serve TLS.
    pub tls_cert: Option<rustls::pki_types::CertificateDer<'static>>,
}

impl Started {
    /// The address the server called `name` listens on.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.servers.iter().find(|s| s.name == name).map(|s| s.addr)
    }

    /// Stops every server and waits (bounded by the grace period and a second) for them to
    /// finish; an error names each server that failed, panicked or did not stop in time.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let mut failed = Vec::new();
        let deadline = tokio::time::Instant::now() + self.grace + Duration::from_secs(1);
        for server in self.servers {
            match tokio::time::timeout_at(deadline, server.task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => failed.push(format!("{}: {e}", server.name)),
                Ok(Err(e)) => failed.push(format!("{}: {e}", server.name)),
                Err(_) => failed.push(format!("{}: still running after the grace period", server.name)),
            }
        }
        if failed.is_empty() { Ok(()) } else { anyhow::bail!("{}", failed.join("; ")) }
    }
}

/// Binds every protocol, then loads the fixtures (readiness turns true when they are in).
pub async fn start(args: &ServeArgs) -> anyhow::Result<Started> {
    let profiles = match &args.profiles {
        Some(path) => Profiles::from_file(path)?,
        None => Profiles::builtin(),
    };
    let profile = profiles.get(&args.payload)?.clone();
    let store = Arc::new(Store::new(StoreConfig {
        latency: Duration::from_micros(args.store_latency_us),
        idempotency_ttl: Duration::from_secs(args.idempotency_ttl_s),
        idempotency_capacity: args.idempotency_capacity,
        max_created: args.max_created_orders,
    }));
    let mut ctx = ServerContext { store: store.clone(), config: args.config() };
    if args.tls {
        let tls = wirebench_servers::tls::ServerTls::self_signed(&[args.bind])?;
        if let Some(path) = &args.tls_cert_out {
            std::fs::write(path, &tls.cert_pem).with_context(|| format!("writing {}", path.display()))?;
        }
        ctx.config.tls = Some(tls);
    }
    let tls_cert = ctx.config.tls.as_ref().map(|t| t.cert.clone());
    let grace = ctx.config.grace;
    let shutdown = CancellationToken::new();
    let mut servers = Vec::with_capacity(SERVERS.len());
    for (i, server) in SERVERS.iter().enumerate() {
        let port = if args.port_base == 0 { 0 } else { args.port_base + i as u16 };
        let addr = SocketAddr::new(args.bind, port);
        let running = wirebench_servers::spawn(*server, addr, ctx.clone(), shutdown.child_token())
            .await
            .with_context(|| format!("binding {} on {addr}", server.name()))?;
        servers.push(running);
    }
    let seed = args.seed;
    let loader = store.clone();
    let fixtures = profile.clone();
    tokio::task::spawn_blocking(move || loader.load(wirebench_domain::generate(&fixtures, seed)))
        .await
        .context("loading fixtures")?;
    Ok(Started { store, servers, shutdown, profile, seed, grace, tls_cert })
}

/// Runs `wirebench serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = start(&args).await?;
    for s in &started.servers {
        let describe = wirebench_servers::server(s.name).map_or("", |p| p.describe());
        println!("{:<8} {:<32} {describe}", s.name, s.url);
    }
    if let Some(path) = &args.addr_file {
        let addrs: std::collections::BTreeMap<_, _> =
            started.servers.iter().map(|s| (s.name, s.addr.to_string())).collect();
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_string(&addrs)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)?;
    }
    // The harness's control channel: when it closes, the harness is gone and so is the reason
    // to serve (a server child never outlives its run, even one killed with SIGKILL).
    let control = args.control.then(|| {
        let store = started.store.clone();
        let (profile, seed) = (started.profile.clone(), started.seed);
        let fixtures = move || wirebench_domain::generate(&profile, seed);
        tokio::spawn(async move {
            if let Err(e) = wirebench_engine::control::serve(store, fixtures).await {
                eprintln!("control channel: {e}");
            }
        })
    });
    let control_closed = async {
        match control {
            Some(task) => drop(task.await),
            None => std::future::pending().await,
        }
    };
    let (users, orders) = started.store.counts();
    println!(
        "ready: payload {} seed {}: {users} users, {orders} orders. Ctrl-C stops.",
        args.payload, args.seed
    );
    tokio::select! {
        () = wait_for_signal() => {
            println!("shutting down: requests in flight have {} s to finish", args.grace);
        }
        // Nobody reads stdout any more: say nothing there (a write would fail).
        () = control_closed => {}
    }
    started.stop().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Without a SIGTERM handler (none can be installed), Ctrl-C alone stops the servers.
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        // No signal can reach this process: serve until killed.
        eprintln!("no Ctrl-C handler ({e}); stop with SIGKILL");
        std::future::pending::<()>().await;
    }
}
