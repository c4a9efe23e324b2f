#!/usr/bin/env python3
"""The emulated link against the kernel's own TCP over a packet-level link.

wirebench's link (bench/src/net) models a path at the level of the byte stream: delay,
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

Usage: linkcheck.py [--binary target/release/wirebench] [--reference delayline|netem]
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import fcntl
import gzip
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import addr_file, serving

# Named per process, so that two checks at once (a developer's and CI's) keep apart.
CLIENT_NS, SERVER_NS = f"wirebench-client-{os.getpid()}", f"wirebench-server-{os.getpid()}"
CLIENT_IP, SERVER_IP = "10.77.0.1", "10.77.0.2"
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
PR_SET_PDEATHSIG, PR_SET_TIMERSLACK = 1, 29
CONGESTION = "cubic"

# The links compared, as the emulator spells them: (spec, one-way delay s, down bit/s, up bit/s).
LINKS = [
    ("rtt=40ms", 0.020, None, None),
    ("rtt=40ms,down=10mbit,up=5mbit", 0.020, 10e6, 5e6),
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
    None for no limit) after the one before it, then delivered `delay` seconds later."""

    def __init__(self, to: int, delay: float, rate: float | None):
        self.to, self.delay, self.rate = to, delay, rate
        self.busy_until = 0.0
        self.due: collections.deque[tuple[float, bytes]] = collections.deque()

    def take(self, now: float, packet: bytes) -> None:
        sent = now
        if self.rate:
            sent = max(now, self.busy_until) + len(packet) * 8 / self.rate
            self.busy_until = sent
        self.due.append((sent + self.delay, packet))

    def deliver(self, now: float) -> None:
        while self.due and self.due[0][0] <= now:
            os.write(self.to, self.due.popleft()[1])

    def next(self) -> float | None:
        return self.due[0][0] if self.due else None


def delay_line(client: int, server: int, delay: float, down: float | None, up: float | None) -> None:
    """Carries packets between the two TUN devices until killed. The last 200 µs before a
    delivery are spun rather than slept, so a packet leaves within a few µs of its time."""
    libc().prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    ways = {client: Direction(server, delay, up), server: Direction(client, delay, down)}
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

    def __init__(self, reference: str, delay: float, down: float | None, up: float | None):
        self.carrier = None
        try:
            self.build(reference, delay, down, up)
        except BaseException:  # a failure or a skip half-way: nothing left behind
            self.teardown()
            raise

    def build(self, reference: str, delay: float, down: float | None, up: float | None) -> None:
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
                    delay_line(fds[CLIENT_NS], fds[SERVER_NS], delay, down, up)
                finally:
                    os._exit(0)
            for fd in fds.values():
                os.close(fd)
        else:
            sh("ip", "link", "add", "wb0", "netns", CLIENT_NS, "type", "veth",
               "peer", "name", "wb0", "netns", SERVER_NS)
            for ns, rate in ((CLIENT_NS, up), (SERVER_NS, down)):
                # netem's rate would count the Ethernet header, which the TUN link and the
                # emulator do not carry.
                limit = ["rate", f"{int(rate)}bit", "-14"] if rate else []
                sh(*in_ns(ns, "tc", "qdisc", "add", "dev", "wb0", "root", "netem", "limit", "100000",
                          "delay", f"{int(delay * 1e6)}us", *limit))
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


def run(binary: str, target: str, network: str, out: Path, ns: str | None) -> dict:
    cmd = [binary, "run", "--target", target, "--network", network, "--out", str(out),
           "--format", "json", *CELLS]
    done = subprocess.run(in_ns(ns, *cmd) if ns else cmd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"linkcheck: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    results = json.loads((out / "latest" / "results.json").read_text())
    # The size sweep runs on loopback only: the reference's run has it, the emulator's not.
    return {key(s): (s["figures"]["p50_us"]["median"], s["figures"]["bytes_per_op"]["median"])
            for s in results["summaries"] if s.get("size") is None}


def key(s: dict) -> tuple:
    return (s["protocol"], s["operation"], "fresh" if s["fresh_connections"] else "warm")


def compare(spec: str, reference: dict, emulated: dict) -> list[str]:
    """Each cell's p50 (within SHARE or SLACK_MS) and bytes per operation (counted on the
    socket in the reference, on the client's side of the link in the emulator: within
    BYTES_SHARE, HTTP/2's window updates and pings coming as the timing has them)."""
    bad = []
    print(f"\n{spec}: reference ({args.reference}) against the emulator")
    print(f"  {'protocol':<13}{'operation':<13}{'conn':<6}{'p50 ms':>9}{'emulated':>10}{'ratio':>7}"
          f"{'bytes/op':>10}{'emulated':>10}")
    for k in sorted(reference):
        if k not in emulated:
            bad.append(f"{spec} {k}: the emulated run has no such cell")
            continue
        (ref, ref_bytes), (emu, emu_bytes) = reference[k], emulated[k]
        ref, emu = ref / 1e3, emu / 1e3
        timed = abs(emu - ref) <= max(SHARE * ref, SLACK_MS)
        counted = abs(emu_bytes - ref_bytes) <= BYTES_SHARE * ref_bytes
        print(f"  {k[0]:<13}{k[1]:<13}{k[2]:<6}{ref:>9.2f}{emu:>10.2f}{emu / ref:>7.3f}"
              f"{ref_bytes:>10.0f}{emu_bytes:>10.0f}" + ("" if timed and counted else "  <-- off"))
        if not timed:
            bad.append(f"{spec} {k}: emulated p50 {emu:.2f} ms, reference {ref:.2f} ms")
        if not counted:
            bad.append(f"{spec} {k}: emulated {emu_bytes:.0f} bytes per operation, reference {ref_bytes:.0f}")
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
    bad = []
    with tempfile.TemporaryDirectory(prefix="linkcheck-") as tmp:
        here, far = Path(tmp) / "here", Path(tmp) / "far"
        here.mkdir()
        far.mkdir()
        with serving(args.binary, here):
            for spec, delay, down, up in LINKS:
                with Topology(args.reference, delay, down, up), \
                        serving(args.binary, far, bind=SERVER_IP, prefix=in_ns(SERVER_NS)):
                    ref = run(args.binary, addr_file(far), "loopback", Path(tmp) / f"ref-{spec}", CLIENT_NS)
                emu = run(args.binary, addr_file(here), spec, Path(tmp) / f"emu-{spec}", None)
                bad += compare(spec, ref, emu)
    if bad:
        print("\nlinkcheck: the emulator and the reference disagree:\n  " + "\n  ".join(bad))
        return 1
    print("\nlinkcheck: the emulator agrees with the reference on every cell")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/wirebench")
    parser.add_argument("--reference", choices=["delayline", "netem"], default="delayline")
    args = parser.parse_args()
    sys.exit(main())
