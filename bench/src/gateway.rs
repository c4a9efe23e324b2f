//! A real gateway in front of the servers: nginx or HAProxy from the Debian package, started
//! as a child with a config rendered from the templates in `gateway/` (readable, in the
//! shape of a production config), listening on loopback ports of its own.
//!
//! Routes follow what the clients put on the wire ([`Protocol::transport`] of each server's
//! variants): a server whose first variant speaks HTTP/1.1 gets an HTTP/1.1 route with
//! upstream keep-alive (and an h2c listener of its own when a variant speaks HTTP/2), one that
//! speaks HTTP/2 only gets an HTTP/2 route on both sides (gRPC), a WebSocket server gets the
//! upgrade, and the floor a TCP proxy. A variant the gateway has no route for (gRPC-Web) is
//! said by [`Gateway::dial_for`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use wirebench_engine::catalog::Operation;
use wirebench_engine::clients::{PROTOCOLS, Protocol, Transport};

/// How long a gateway may take to listen on every port.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A gateway wirebench can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Nginx,
    Haproxy,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Nginx, Kind::Haproxy];

    /// The gateway called `name`.
    pub fn named(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Kind::Nginx => "/usr/sbin/nginx",
            Kind::Haproxy => "/usr/sbin/haproxy",
        }
    }

    /// The Debian packages it needs.
    pub fn packages(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx libnginx-mod-stream",
            Kind::Haproxy => "haproxy",
        }
    }

    fn template(self) -> (&'static str, &'static str) {
        match self {
            Kind::Nginx => ("nginx.conf", include_str!("../../gateway/nginx.conf")),
            Kind::Haproxy => ("haproxy.cfg", include_str!("../../gateway/haproxy.cfg")),
        }
    }

    /// Why it cannot run here, with the command that installs it; None when it can.
    pub fn missing(self) -> Option<String> {
        let module = Path::new("/usr/lib/nginx/modules/ngx_stream_module.so");
        let absent = !Path::new(self.binary()).exists() || (self == Kind::Nginx && !module.exists());
        absent
            .then(|| format!("{} is not installed: sudo apt-get install -y {}", self.name(), self.packages()))
    }
}

/// A gateway in a run's path: its kind, and the rate limit it applies to each route (requests
/// per second; `None`: none), written `nginx` or `nginx@500/s` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Via {
    pub kind: Kind,
    pub limit: Option<u32>,
}

impl Via {
    /// Parses `nginx`, `haproxy@500/s`.
    pub fn parse(text: &str) -> Option<Via> {
        let (kind, limit) = match text.split_once('@') {
            None => (text, None),
            Some((k, rate)) => (k, Some(rate.trim_end_matches("/s").parse().ok().filter(|r| *r > 0)?)),
        };
        Some(Via { kind: Kind::named(kind)?, limit })
    }

    /// As results and the report name it.
    pub fn name(self) -> String {
        match self.limit {
            None => self.kind.name().to_owned(),
            Some(r) => format!("{}@{r}/s", self.kind.name()),
        }
    }
}

/// The operations run through a gateway when none are named.
const VIA_OPS: [Operation; 2] = [Operation::GetUser, Operation::ListOrders];

/// The gateways `--via` names beside `direct`, and the operations run through them (the
/// run's when `--operations` named some, else get-user and list-orders).
pub fn vias(
    names: &[String],
    operations: Option<&[Operation]>,
) -> anyhow::Result<(Vec<Via>, Vec<Operation>)> {
    let mut vias = Vec::new();
    for name in names {
        match (name.as_str(), Via::parse(name)) {
            ("direct", _) => {}
            (_, Some(via)) if !vias.contains(&via) => vias.push(via),
            (_, Some(_)) => {}
            (other, None) => {
                anyhow::bail!("--via {other}: direct, nginx or haproxy, with a rate limit as nginx@500/s")
            }
        }
    }
    let ops = operations.map_or_else(|| VIA_OPS.to_vec(), <[Operation]>::to_vec);
    Ok((vias, ops))
}

/// The routes of the servers in `upstreams`, by kind: HTTP/1.1, HTTP/2 only, WebSocket, TCP;
/// and the HTTP/1.1 servers with an h2c listener beside.
#[derive(Debug, Default, serde::Serialize)]
struct Routes {
    http1: Vec<String>,
    h2: Vec<String>,
    websocket: Vec<String>,
    tcp: Vec<String>,
    h2c: Vec<String>,
}

fn routes(upstreams: &BTreeMap<String, SocketAddr>) -> Routes {
    let mut r = Routes::default();
    for server in upstreams.keys() {
        let variants: Vec<&&dyn Protocol> = PROTOCOLS.iter().filter(|p| p.server() == server).collect();
        let Some(first) = variants.first() else { continue };
        let name = server.clone();
        match first.transport() {
            Transport::Http1 => {
                if variants.iter().any(|v| v.transport() == Transport::Http2) {
                    r.h2c.push(name.clone());
                }
                r.http1.push(name);
            }
            Transport::Http2 => r.h2.push(name),
            Transport::Websocket => r.websocket.push(name),
            Transport::RawTcp => r.tcp.push(name),
        }
    }
    r
}

/// Whether a gateway routes `protocol`: not an HTTP/1.1 variant of a server whose route is
/// HTTP/2 on both sides (gRPC-Web); Err says why.
pub fn routed(protocol: &dyn Protocol) -> Result<(), String> {
    let first = PROTOCOLS.iter().find(|p| p.server() == protocol.server()).map(|p| p.transport());
    if first == Some(Transport::Http2) && protocol.transport() != Transport::Http2 {
        return Err(format!("no route for {} over {}", protocol.name(), protocol.transport().label()));
    }
    Ok(())
}

/// A loopback port free now (bound, read, released: the gateway binds it a moment later).
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts each of `kinds` in front of `upstreams`, configs and logs in `dir`; one that is not
/// installed (or does not start) is said through `note`, in one line, and left out.
pub fn start_all(
    vias: &[Via],
    upstreams: &BTreeMap<String, SocketAddr>,
    dir: &Path,
    note: impl Fn(String),
) -> Vec<Gateway> {
    let mut started = Vec::new();
    for &via in vias {
        match Gateway::start(via, upstreams, dir) {
            Ok(g) => {
                note(format!("gateway: {} (config {})", via.name(), g.config.display()));
                started.push(g);
            }
            Err(e) => note(format!("skipped the cells via {}: {e:#}", via.name())),
        }
    }
    started
}

/// A running gateway, stopped (and reaped) on drop.
#[derive(Debug)]
pub struct Gateway {
    pub kind: Kind,
    /// Requests per second each HTTP route admits (`None`: no limit).
    pub limit: Option<u32>,
    child: Child,
    /// Its listening address per route: a server's name, or `<server>-h2c`.
    pub listen: BTreeMap<String, SocketAddr>,
    /// The rendered config, kept beside the run's results.
    pub config: PathBuf,
}

impl Gateway {
    /// Renders `kind`'s config for `upstreams` (server name → address) into `dir` and starts
    /// it; waits (bounded) until it listens on every route.
    pub fn start(via: Via, upstreams: &BTreeMap<String, SocketAddr>, dir: &Path) -> anyhow::Result<Gateway> {
        let (kind, limit) = (via.kind, via.limit);
        if let Some(why) = kind.missing() {
            bail!(why);
        }
        let scratch = dir.join(via.name().replace(['@', '/'], "-"));
        std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let routes = routes(upstreams);
        let mut listen = BTreeMap::new();
        for name in routes.http1.iter().chain(&routes.h2).chain(&routes.websocket).chain(&routes.tcp) {
            listen.insert(name.clone(), free_port()?);
        }
        for name in &routes.h2c {
            listen.insert(format!("{name}-h2c"), free_port()?);
        }
        let (file, template) = kind.template();
        let mut env = minijinja::Environment::new();
        env.add_template(file, template)?;
        let text = env.get_template(file)?.render(minijinja::context! {
            dir => scratch.display().to_string(),
            up => upstreams,
            listen => &listen,
            http1 => &routes.http1,
            h2 => &routes.h2,
            websocket => &routes.websocket,
            tcp => &routes.tcp,
            limit => limit,
            burst => limit.map(|r| (r / 10).max(1)),
        })?;
        let config = scratch.join(file);
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let log = std::fs::File::create(scratch.join("stderr.log"))?;
        let mut cmd = Command::new(kind.binary());
        match kind {
            Kind::Nginx => cmd
                .arg("-c")
                .arg(&config)
                .arg("-p")
                .arg(&scratch)
                .arg("-e")
                .arg(scratch.join("nginx-error.log")),
            Kind::Haproxy => cmd.arg("-db").arg("-f").arg(&config),
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        // Its own process group: Ctrl-C reaches the harness, which stops it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().with_context(|| format!("starting {}", kind.binary()))?;
        let mut gateway = Gateway { kind, limit, child, listen, config };
        gateway.wait_ready(&scratch)?;
        Ok(gateway)
    }

    fn wait_ready(&mut self, scratch: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self
                .listen
                .values()
                .all(|a| std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(scratch.join("stderr.log")).unwrap_or_default();
                bail!("{} exited before it listened ({status}): {}", self.kind.name(), log.trim());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on every port within {} s",
                    self.kind.name(),
                    READY_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where `protocol`'s client connects through this gateway; Err says why it cannot.
    pub fn dial_for(&self, protocol: &dyn Protocol) -> Result<SocketAddr, String> {
        routed(protocol).map_err(|why| format!("{}: {why}", self.kind.name()))?;
        let server = protocol.server();
        let h2c = format!("{server}-h2c");
        let key = match protocol.transport() {
            Transport::Http2 if self.listen.contains_key(&h2c) => h2c.as_str(),
            _ => server,
        };
        self.listen.get(key).copied().ok_or_else(|| format!("{} has no route for {server}", self.kind.name()))
    }

    /// What it is in a run's path.
    pub fn via(&self) -> Via {
        Via { kind: self.kind, limit: self.limit }
    }

    /// The gateway's processes (its master and workers), for their CPU.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{master}/task/{master}/children")).unwrap_or_default();
        std::iter::once(master).chain(children.split_whitespace().filter_map(|p| p.parse().ok())).collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // nginx's master stops its workers on SIGTERM; HAProxy runs in the foreground (-db).
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_raw(self.child.id() as i32).expect("a child's pid is positive"),
            rustix::process::Signal::TERM,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
