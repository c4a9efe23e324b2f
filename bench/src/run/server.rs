//! The servers a run measures: a `wirebench serve` child of this binary, or servers already
//! running elsewhere (`--target`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use wirebench_engine::control::Control;

/// How long a spawned server may take to bind and load its fixtures.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server child, stopped (and reaped) on drop.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    pub addrs: BTreeMap<String, SocketAddr>,
    /// Its control channel (stdin and stdout).
    pub control: Control,
    /// Its TLS certificate, when it serves TLS.
    pub tls_cert: Option<Cert>,
}

/// A server's TLS certificate.
pub type Cert = rustls::pki_types::CertificateDer<'static>;

/// Reads a certificate in PEM (as `wirebench serve --tls-cert-out` writes it).
pub fn read_cert(path: &Path) -> anyhow::Result<Cert> {
    use rustls::pki_types::pem::PemObject as _;
    Cert::from_pem_file(path).with_context(|| format!("reading the TLS certificate {}", path.display()))
}

impl ServerChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status, if it has exited.
    pub fn exited(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // The child may have died already; either way it must not outlive the run.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The allocator setting the server child runs with (see [`spawn`]); the method section
/// quotes it.
pub const SERVER_ARENAS: (&str, &str) = ("MALLOC_ARENA_MAX", "1");

/// Starts `wirebench serve` for `payload`, holding up to `max_connections` connections per
/// server (and serving TLS beside plaintext when `tls`), and waits (bounded) until it is
/// ready; it writes its addresses (and its certificate) to files in `dir` once its fixtures
/// are loaded.
pub fn spawn(
    (seed, store_latency_us): (u64, u64),
    payload: &str,
    (max_connections, tls): (usize, bool),
    cores: &[usize],
    dir: &Path,
) -> anyhow::Result<ServerChild> {
    let addr_file = dir.join(format!(".servers-{payload}.json"));
    let cert_file = dir.join(format!(".cert-{payload}.pem"));
    remove_if_present(&addr_file)?;
    remove_if_present(&cert_file)?;
    let exe = std::env::current_exe().context("locating the wirebench binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--port-base", "0", "--payload", payload])
        .args(["--seed", &seed.to_string(), "--store-latency-us", &store_latency_us.to_string()])
        .args(["--max-connections", &max_connections.to_string()])
        .args(["--control", "--addr-file"])
        .arg(&addr_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if tls {
        cmd.args(["--tls", "--tls-cert-out"]).arg(&cert_file);
    }
    // One glibc heap arena: with one per thread (glibc's default), what a write-heavy cell
    // leaves scattered over several arenas keeps the next cells' start 15–40 % above the
    // first's even after the store's reset and a trim; with one it stays within 10 %. On this
    // 2-core machine it cost nothing measurable (throughput 2 % higher, within noise, over
    // the quick profile's cells). A user's own MALLOC_ARENA_MAX wins.
    if std::env::var_os(SERVER_ARENAS.0).is_none() {
        cmd.env(SERVER_ARENAS.0, SERVER_ARENAS.1);
    }
    if !cores.is_empty() {
        let list: Vec<String> = cores.iter().map(ToString::to_string).collect();
        cmd.args(["--cpus", &list.join(",")]);
    }
    // Its own process group: a terminal's Ctrl-C goes to the harness alone, which finishes
    // what it measured against a server still serving (the server stops when the harness
    // drops it, or when its control channel closes because the harness is gone).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("starting wirebench serve")?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        unreachable!("both are piped above")
    };
    let mut server =
        ServerChild { child, addrs: BTreeMap::new(), control: Control::new(stdin, stdout), tls_cert: None };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        // The file appears whole (written, then renamed) once the server is ready.
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            server.addrs = serde_json::from_str(&text)
                .with_context(|| format!("{}: not the server's address file", addr_file.display()))?;
            remove_if_present(&addr_file)?;
            if tls {
                server.tls_cert = Some(read_cert(&cert_file)?);
                remove_if_present(&cert_file)?;
            }
            return Ok(server);
        }
        if let Some(status) = server.exited()? {
            bail!("wirebench serve exited before it was ready ({status})");
        }
        if Instant::now() > deadline {
            bail!("wirebench serve was not ready within {} s", READY_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `--target HOST:PORT` as addresses in server registry order.
pub fn target_addrs(target: &str) -> anyhow::Result<BTreeMap<String, SocketAddr>> {
    let file = std::path::Path::new(target).is_file();
    // HOST:PORT, HOST a name (a Kubernetes Service) or an address.
    if !file
        && let Some(first) = std::net::ToSocketAddrs::to_socket_addrs(target).ok().and_then(|mut a| a.next())
    {
        return Ok(wirebench_servers::SERVERS
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name().to_owned(), SocketAddr::new(first.ip(), first.port() + i as u16)))
            .collect());
    }
    // The file `wirebench serve --addr-file` writes: each server's address by name.
    let text = std::fs::read_to_string(target)
        .with_context(|| format!("--target {target}: neither HOST:PORT nor a readable address file"))?;
    let addrs: BTreeMap<String, SocketAddr> =
        serde_json::from_str(&text).with_context(|| format!("--target {target}: not an address file"))?;
    for s in wirebench_servers::SERVERS {
        anyhow::ensure!(addrs.contains_key(s.name()), "--target {target}: no address for {}", s.name());
    }
    Ok(addrs)
}
