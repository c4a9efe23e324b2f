#!/usr/bin/env python3
"""The emulated link against the kernel's own TCP over a packet-level link.

wirebench's link (wire/src/net) models a path at the level of the byte stream: delay,
serialization, an initial window of 10 segments growing per round trip. This check runs the
same cells through a reference that models nothing about TCP: the client and the server
each in a network namespace of their own, joined by a packet-level link that holds every IP
packet for the one-way delay (and, with a rate, its serialization time), so that the
kernel's real TCP (handshake, slow start, ACK clocking, delayed ACKs) runs over it. Then it
compares each cell's p50 with the emulator's, for the same server settings and cells.

Two references:

- `delayline` (the default): a TUN device in each namespace and a child of this process
  carrying the packets between them. It needs root and /dev/net/tun, nothing else.
- `netem`: a veth pair with the kernel's netem on each end (`tc qdisc ... netem delay`).
  It needs root and the sch_netem module (not in every kernel; where it is missing, the
  check says so and exits 0).

Where the requirements are missing (not root, no TUN device, no `ip`), the check says what is
missing in one line and exits 0: it is optional, like the kernel comparison it makes.

With `--lossy`, the links drop packets too (the delay line each packet with the link's
probability, seeded; netem with its `loss`), and the check compares each cell's mean latency
over longer cells: what a lost segment costs (RACK, the loss probe, the retransmission
timeout, the window's cut) shows in the mean, not in the p50. It takes about six minutes and
is not part of `make test`.

Usage: linkcheck.py [--binary target/release/wirebench] [--reference delayline|netem] [--lossy]
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import errno
import fcntl
import gzip
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from serving import addr_file, serving

# Named per process, so that two checks at once (a developer's and CI's) keep apart.
CLIENT_NS, SERVER_NS = f"wirebench-client-{os.getpid()}", f"wirebench-server-{os.getpid()}"
CLIENT_IP, SERVER_IP = "10.77.0.1", "10.77.0.2"
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
PR_SET_PDEATHSIG, PR_SET_TIMERSLACK = 1, 29
CONGESTION = "cubic"


class Link(NamedTuple):
    """A link as the emulator spells it, and as the reference builds it."""
    spec: str
    delay: float  # one way, s
    down: float | None  # bit/s
    up: float | None
    loss: float = 0.0  # share of packets dropped, each direction


# The links compared.
LINKS = [
    Link("rtt=40ms", 0.020, None, None),
    Link("rtt=40ms,down=10mbit,up=5mbit", 0.020, 10e6, 5e6),
]
# Cells: rest's two request waves and rest-include's one, gRPC and GraphQL; user-orders (two
# small waves for rest) and list-orders at 100 orders (15 to 45 KB by encoding, past the
# initial window of 10 segments, so slow start shows on a fresh connection); warm and fresh.
CELLS = [
    "--protocols", "rest,rest-include,grpc,graphql",
    "--operations", "user-orders,list-orders", "--n", "100",
    "--concurrency", "1", "--no-open-loop", "--fresh-connections",
    "--tls", "plain", "--repeat", "1", "--warmup", "0.3", "--duration", "1.5",
]
# Lossy links: each packet dropped with the link's probability, each direction. Small
# answers (one segment each way) and a long list (many segments a flight), warm, over cells
# long enough for the losses to count.
LOSSY_LINKS = [
    Link("rtt=10ms,loss=5%", 0.005, None, None, 0.05),
]
LOSSY_CELLS = [
    "--protocols", "rest,grpc",
    "--operations", "get-user,list-orders", "--n", "100",
    "--concurrency", "1", "--no-open-loop",
    "--tls", "plain", "--repeat", "1", "--warmup", "0.5", "--duration", "20",
]
# How far an emulated mean may be from the reference's on a lossy link: 25 %. At 5 % loss one
# call in ten waits about 200 ms for a timeout, so the mean of some 600 calls has a sampling
# error of about ±15 % (95 %) on its own.
LOSSY_SHARE = 0.25
# How far an emulated p50 may be from the reference's: 5 % (the bound for a
# mebibyte's transfer) or, on short cells, 2 ms (what the debug build and the reference's
# own packet handling add per call).
SHARE, SLACK_MS = 0.05, 2.0
BYTES_SHARE = 0.02


def skip(why: str) -> None:
    print(f"linkcheck: skipped ({why})")
    sys.exit(0)


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def in_ns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def open_tun(ns: str, name: str) -> int:
    """A TUN device `name` inside namespace `ns`, opened from this process."""
    lib = libc()
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if lib.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    finally:
        if lib.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns home")
        os.close(home)
        os.close(there)
    return fd


class Direction:
    """One direction of the packet link: FIFO, each packet serialized at `rate` (bits/s,
    None for no limit) after the one before it, then delivered `delay` seconds later; with
    `loss`, each packet (data, acknowledgement or handshake alike) is dropped with that
    probability, from a seeded generator."""

    def __init__(self, to: int, delay: float, rate: float | None, loss: float, seed: int):
        self.to, self.delay, self.rate, self.loss = to, delay, rate, loss
        self.random = random.Random(seed)
        self.busy_until = 0.0
        self.due: collections.deque[tuple[float, bytes]] = collections.deque()

    def take(self, now: float, packet: bytes) -> None:
        if self.loss and self.random.random() < self.loss:
            return
        sent = now
        if self.rate:
            sent = max(now, self.busy_until) + len(packet) * 8 / self.rate
            self.busy_until = sent
        self.due.append((sent + self.delay, packet))

    def deliver(self, now: float) -> None:
        while self.due and self.due[0][0] <= now:
            try:
                os.write(self.to, self.due.popleft()[1])
            except OSError as e:
                # The far device is not up yet (its namespace is still being set up): the
                # packet is lost, as on a link whose far end is down.
                if e.errno != errno.EIO:
                    raise

    def next(self) -> float | None:
        return self.due[0][0] if self.due else None


def delay_line(client: int, server: int, link: Link) -> None:
    """Carries packets between the two TUN devices until killed. The last 200 µs before a
    delivery are spun rather than slept, so a packet leaves within a few µs of its time."""
    libc().prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    ways = {client: Direction(server, link.delay, link.up, link.loss, 1),
            server: Direction(client, link.delay, link.down, link.loss, 2)}
    while True:
        now = time.monotonic()
        for way in ways.values():
            way.deliver(now)
        nexts = [t for t in (w.next() for w in ways.values()) if t is not None]
        wait = None if not nexts else max(0.0, min(nexts) - now)
        if wait is not None and wait < 0.0002:
            ready, _, _ = select.select(list(ways), [], [], 0)
        else:
            ready, _, _ = select.select(list(ways), [], [], None if wait is None else wait - 0.0002)
        now = time.monotonic()
        for fd in ready:
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                ways[fd].take(now, packet)


class Topology:
    """Two namespaces joined by the reference link; torn down when the block ends."""

    def __init__(self, reference: str, link: Link):
        self.carrier = None
        try:
            self.build(reference, link)
        except BaseException:  # a failure or a skip half-way: nothing left behind
            self.teardown()
            raise

    def build(self, reference: str, link: Link) -> None:
        for ns in (CLIENT_NS, SERVER_NS):
            if subprocess.run(["ip", "netns", "add", ns], stderr=subprocess.DEVNULL).returncode != 0:
                skip("cannot create network namespaces here (`ip netns add` failed)")
            sh(*in_ns(ns, "ip", "link", "set", "lo", "up"))
        if reference == "delayline":
            fds = {ns: open_tun(ns, "wb0") for ns in (CLIENT_NS, SERVER_NS)}
            self.carrier = os.fork()
            if self.carrier == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # dies with the check
                try:
                    delay_line(fds[CLIENT_NS], fds[SERVER_NS], link)
                finally:
                    os._exit(0)
            for fd in fds.values():
                os.close(fd)
        else:
            sh("ip", "link", "add", "wb0", "netns", CLIENT_NS, "type", "veth",
               "peer", "name", "wb0", "netns", SERVER_NS)
            for ns, rate in ((CLIENT_NS, link.up), (SERVER_NS, link.down)):
                # netem's rate would count the Ethernet header, which the TUN link and the
                # emulator do not carry.
                limit = ["rate", f"{int(rate)}bit", "-14"] if rate else []
                loss = ["loss", f"{link.loss * 100}%"] if link.loss else []
                sh(*in_ns(ns, "tc", "qdisc", "add", "dev", "wb0", "root", "netem", "limit", "100000",
                          "delay", f"{int(link.delay * 1e6)}us", *limit, *loss))
                # A veth offloads segmentation: netem would see 64 KB packets, not segments.
                sh(*in_ns(ns, "ethtool", "-K", "wb0", "tso", "off", "gso", "off", "gro", "off"))
        for ns, ip in ((CLIENT_NS, CLIENT_IP), (SERVER_NS, SERVER_IP)):
            sh(*in_ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", "wb0"))
            sh(*in_ns(ns, "ip", "link", "set", "wb0", "mtu", "1500", "up"))
            # The emulator models a window-limited sender that does not pace: CUBIC, the
            # default of most distributions. BBR (some machines' default) paces a flight
            # over the round trip, 1.3 ms per segment at its first rate on a 40 ms path. A
            # route's congctl sets it without the host's list of allowed algorithms.
            sh(*in_ns(ns, "ip", "route", "replace", "10.77.0.0/24", "dev", "wb0", "congctl", CONGESTION))

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *_) -> None:
        self.teardown()

    def teardown(self) -> None:
        if self.carrier:
            os.kill(self.carrier, signal.SIGTERM)
            os.waitpid(self.carrier, 0)
            self.carrier = None
        for ns in (CLIENT_NS, SERVER_NS):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def run(binary: str, target: str, network: str, cells: list[str], out: Path, ns: str | None) -> dict:
    """Each cell's figures by key: p50, mean and p99 in ms, and bytes per operation."""
    cmd = [binary, "run", "--target", target, "--network", network, "--out", str(out),
           "--format", "json", *cells]
    done = subprocess.run(in_ns(ns, *cmd) if ns else cmd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"linkcheck: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    results = json.loads((out / "latest" / "results.json").read_text())
    # The size sweep runs on loopback only: the reference's run has it, the emulator's not.
    return {key(c): figures(c) for c in results["cells"] if not c.get("sized") and c.get("latency")}


def figures(c: dict) -> dict:
    latency, sent, received = c["latency"], c["bytes"]["sent_per_op"], c["bytes"]["received_per_op"]
    return {"p50": latency["p50_ns"] / 1e6, "mean": latency["mean_ns"] / 1e6, "p99": latency["p99_ns"] / 1e6,
            "ops": latency["count"], "bytes": sent["total_bytes"] + received["total_bytes"]}


def key(c: dict) -> tuple:
    conn = "fresh" if c["fresh_connections"] else "warm" if c["streams"] <= 1 else f"m{c['streams']}"
    return (c["protocol"], c["operation"], conn)


def compare(link: Link, reference: dict, emulated: dict) -> list[str]:
    """Each cell's latency (p50 on a clean link, within SHARE or SLACK_MS; the mean on a lossy
    one, within LOSSY_SHARE) and bytes per operation (counted on the socket in the reference, on the
    client's side of the link in the emulator: within BYTES_SHARE, HTTP/2's window updates and
    pings coming as the timing has them; not on a lossy link, whose retransmissions the
    reference's socket does not count either)."""
    stat, share = ("mean", LOSSY_SHARE) if link.loss else ("p50", SHARE)
    bad = []
    print(f"\n{link.spec}: reference ({args.reference}) against the emulator, {stat} latency")
    print(f"  {'protocol':<13}{'operation':<13}{'conn':<6}{'ops':>6}{stat + ' ms':>9}{'emulated':>10}{'ratio':>7}"
          f"{'p99 ms':>9}{'emulated':>10}{'bytes/op':>10}{'emulated':>10}")
    for k in sorted(reference):
        if k not in emulated:
            bad.append(f"{link.spec} {k}: the emulated run has no such cell")
            continue
        ref, emu = reference[k], emulated[k]
        timed = abs(emu[stat] - ref[stat]) <= max(share * ref[stat], SLACK_MS)
        counted = link.loss or abs(emu["bytes"] - ref["bytes"]) <= BYTES_SHARE * ref["bytes"]
        print(f"  {k[0]:<13}{k[1]:<13}{k[2]:<6}{ref['ops']:>6}{ref[stat]:>9.2f}{emu[stat]:>10.2f}"
              f"{emu[stat] / ref[stat]:>7.3f}{ref['p99']:>9.2f}{emu['p99']:>10.2f}"
              f"{ref['bytes']:>10.0f}{emu['bytes']:>10.0f}" + ("" if timed and counted else "  <-- off"))
        if not timed:
            bad.append(f"{link.spec} {k}: emulated {stat} {emu[stat]:.2f} ms, reference {ref[stat]:.2f} ms")
        if not counted:
            bad.append(f"{link.spec} {k}: emulated {emu['bytes']:.0f} bytes per operation, reference {ref['bytes']:.0f}")
    return bad


def requirements(reference: str) -> None:
    if os.geteuid() != 0:
        skip("needs root: network namespaces and a TUN device or netem")
    if not shutil.which("ip"):
        skip("needs iproute2's `ip`")
    if reference == "delayline" and not os.path.exists("/dev/net/tun"):
        skip("needs /dev/net/tun")
    if reference == "netem":
        if not shutil.which("tc") or not shutil.which("ethtool"):
            skip("needs `tc` and `ethtool`")
        # Loaded, or built in (where the kernel says; otherwise tc will say).
        if shutil.which("modprobe"):
            subprocess.run(["modprobe", "sch_netem"], stderr=subprocess.DEVNULL)
        modules, config = Path("/proc/modules"), Path("/proc/config.gz")
        loaded = modules.exists() and "sch_netem" in modules.read_text()
        if not loaded and config.exists() and b"CONFIG_NET_SCH_NETEM=y" not in gzip.decompress(config.read_bytes()):
            skip("needs the sch_netem module, which this kernel lacks")


def main() -> int:
    requirements(args.reference)
    links, cells = (LOSSY_LINKS, LOSSY_CELLS) if args.lossy else (LINKS, CELLS)
    bad = []
    with tempfile.TemporaryDirectory(prefix="linkcheck-") as tmp:
        here, far = Path(tmp) / "here", Path(tmp) / "far"
        here.mkdir()
        far.mkdir()
        with serving(args.binary, here):
            for link in links:
                with Topology(args.reference, link), \
                        serving(args.binary, far, bind=SERVER_IP, prefix=in_ns(SERVER_NS)):
                    ref = run(args.binary, addr_file(far), "loopback", cells, Path(tmp) / f"ref-{link.spec}",
                              CLIENT_NS)
                emu = run(args.binary, addr_file(here), link.spec, cells, Path(tmp) / f"emu-{link.spec}", None)
                bad += compare(link, ref, emu)
    if bad:
        print("\nlinkcheck: the emulator and the reference disagree:\n  " + "\n  ".join(bad))
        return 1
    print("\nlinkcheck: the emulator agrees with the reference on every cell")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/wirebench")
    parser.add_argument("--reference", choices=["delayline", "netem"], default="delayline")
    parser.add_argument("--lossy", action="store_true",
                        help="compare lossy links (the mean latency, over longer cells) instead of clean ones")
    args = parser.parse_args()
    sys.exit(main())
