#!/usr/bin/env python3
"""Is wirebench's load generator the bottleneck? Measure it against wrk (HTTP/1.1) and
h2load (h2c, and gRPC with a pre-framed body) on the same server, endpoint and concurrency,
in one run, and print the ratios.

Usage: generator_check.py [--binary target/release/wirebench] [--seconds 5] [--connections 16]

The server is pinned to core 0 and every client to core 1 (taskset), one client at a time;
idle CPUs are kept awake for the whole comparison (a 0 µs /dev/cpu_dma_latency request, when
permitted), as `wirebench run` does, so every tool meets the same machine.
Requests/s: each tool's own figure. CPU per request: wrk and h2load, their whole process
CPU (getrusage of the child) over their requests; wirebench, the client CPU per operation
its results.json records for the cell's recorded window, and the same less the time it spent
decoding responses into domain types (which the others do not do; reported apart). The
goals: wirebench's req/s at least the tool's, and its CPU per request, decoding excluded, at
most 1.2x the tool's.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def run_child(cmd):
    """Runs cmd, returns (stdout, cpu seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, cpu


def pinned(core, cmd):
    return (["taskset", "-c", str(core)] if shutil.which("taskset") else []) + cmd


def wirebench_cell(binary, target, protocol, seconds, conns, out_dir, extra=()):
    cmd = pinned(1, [binary, "run", "--target", target, "--protocols", protocol,
                     "--operations", "get-user", "--concurrency", str(conns),
                     "--duration", str(seconds), "--warmup", "1", "--no-open-loop",
                     "--no-pin", "--out", out_dir, *extra])
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    with open(os.path.join(out_dir, "latest", "results.json")) as f:
        cell = json.load(f)["cells"][0]
    decode_us = (cell["client_decode"] or {}).get("mean_ns", 0.0) / 1e3
    return cell["throughput_ops_s"], cell["resources"]["client_cpu_us_per_op"], decode_us, cell["errors"]


def hold_idle_cpus():
    """Keeps idle CPUs awake while the returned file is open (None when not permitted)."""
    try:
        f = open("/dev/cpu_dma_latency", "wb", buffering=0)
        f.write((0).to_bytes(4, sys.byteorder, signed=True))
        return f
    except OSError as e:
        print(f"note: idle CPUs may sleep ({e})", file=sys.stderr)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/wirebench")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--port-base", type=int, default=17800)
    args = ap.parse_args()
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("h2load", "nghttp2-client")) if not shutil.which(tool)]
    if missing:
        # Debian's packages; apt needs root (as on the project's machines and CI).
        print(f"installing {' '.join(missing)} from Debian's packages", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)

    awake = hold_idle_cpus()
    work = tempfile.mkdtemp(prefix="wirebench-generator-")
    addr_file = os.path.join(work, "servers.json")
    server = subprocess.Popen(pinned(0, [args.binary, "serve", "--port-base", str(args.port_base),
                                         "--payload", "small", "--addr-file", addr_file]),
                              stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not os.path.exists(addr_file):
            if time.time() > deadline or server.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(0.05)
        with open(addr_file) as f:
            addrs = json.load(f)
        rest, grpc = addrs["rest"], addrs["grpc"]
        target = rest
        c, secs = args.connections, args.seconds
        rows = []

        # HTTP/1.1: wrk vs wirebench rest.
        out, cpu = run_child(pinned(1, ["wrk", "-t1", f"-c{c}", f"-d{secs}s", f"http://{rest}/v1/users/1"]))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        total = int(re.search(r"(\d+) requests in", out).group(1))
        rows.append(("HTTP/1.1 GET /v1/users/1", "wrk", rps, cpu * 1e6 / total,
                     wirebench_cell(args.binary, target, "rest", secs, c, os.path.join(work, "rest"))))

        # h2c: h2load vs wirebench rest-h2 (one stream per connection, like wirebench).
        out, cpu = run_child(pinned(1, ["h2load", "-t1", f"-c{c}", "-m1", "-D", str(secs),
                                        f"http://{rest}/v1/users/1"]))
        rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
        total = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
        rows.append(("h2c GET /v1/users/1", "h2load", rps, cpu * 1e6 / total,
                     wirebench_cell(args.binary, target, "rest-h2", secs, c, os.path.join(work, "h2"))))

        # gRPC: h2load with a pre-framed GetUserRequest{id: 1} vs wirebench grpc.
        body = os.path.join(work, "get_user.bin")
        with open(body, "wb") as f:
            msg = bytes([0x08, 0x01])  # field 1 (id), varint 1
            f.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)
        out, cpu = run_child(pinned(1, ["h2load", "-t1", f"-c{c}", "-m1", "-D", str(secs), "-d", body,
                                        "-H", "content-type: application/grpc", "-H", "te: trailers",
                                        f"http://{grpc}/wirebench.v1.Shop/GetUser"]))
        rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
        total = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
        rows.append(("gRPC GetUser (h2c)", "h2load", rps, cpu * 1e6 / total,
                     wirebench_cell(args.binary, target, "grpc", secs, c, os.path.join(work, "grpc"))))

        # What dissecting every byte costs the generator: the same cells with it on and off,
        # alternating, three of each; medians, since one 5-second cell moves by several percent.
        dissected, undissected = {}, {}
        for protocol in ("rest", "rest-h2", "grpc"):
            on, off = [], []
            for i in range(3):
                on.append(wirebench_cell(args.binary, target, protocol, secs, c,
                                         os.path.join(work, f"{protocol}-on-{i}")))
                off.append(wirebench_cell(args.binary, target, protocol, secs, c,
                                          os.path.join(work, f"{protocol}-off-{i}"), ["--no-dissect"]))
            median = lambda runs, k: sorted(r[k] for r in runs)[1]
            dissected[protocol] = (median(on, 0), median(on, 1))
            undissected[protocol] = (median(off, 0), median(off, 1))
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"{'endpoint':<26} {'tool':<7} {'tool req/s':>11} {'wirebench':>10} {'ratio':>6}"
          f" {'tool CPU µs/req':>16} {'wirebench':>10} {'decode':>7} {'less decode':>12} {'ratio':>6}  goals")
    report = []
    for endpoint, tool, rps, cpu_us, (wb_rps, wb_cpu, decode_us, errors) in rows:
        ratio = wb_rps / rps if rps else 0.0
        net = wb_cpu - decode_us
        cpu_ratio = net / cpu_us if cpu_us else 0.0
        goals = ("met" if ratio >= 1.0 and cpu_ratio <= 1.2 else
                 f"missed ({'req/s' if ratio < 1.0 else ''}{' and ' if ratio < 1.0 and cpu_ratio > 1.2 else ''}{'CPU' if cpu_ratio > 1.2 else ''})")
        print(f"{endpoint:<26} {tool:<7} {rps:>11.0f} {wb_rps:>10.0f} {ratio:>6.2f} {cpu_us:>16.1f} {wb_cpu:>10.1f}"
              f" {decode_us:>7.2f} {net:>12.1f} {cpu_ratio:>6.2f}  {goals}" + (f"  errors {errors}" if errors else ""))
        report.append({"endpoint": endpoint, "tool": tool, "tool_rps": rps, "tool_cpu_us_per_req": cpu_us,
                       "wirebench_rps": wb_rps, "wirebench_cpu_us_per_req": wb_cpu,
                       "wirebench_decode_us_per_req": decode_us, "ratio_rps": ratio,
                       "ratio_cpu_excluding_decode": cpu_ratio, "goals_met": goals == "met"})
    print(f"connections {args.connections}, {args.seconds} s each; req/s ratio = wirebench ÷ tool; CPU ratio ="
          " wirebench less its decoding ÷ tool; goals: req/s ratio ≥ 1.0 and CPU ratio ≤ 1.2")
    print()
    print("dissection on and off: medians of three alternating cells each")
    print(f"{'dissection':<12} {'req/s on':>10} {'req/s off':>10} {'cost':>7} {'CPU µs/req on':>14} {'off':>7} {'cost':>7}")
    for protocol in ("rest", "rest-h2", "grpc"):
        on_rps, on_cpu = dissected[protocol]
        off_rps, off_cpu = undissected[protocol]
        rps_cost = (off_rps - on_rps) / off_rps * 100 if off_rps else 0.0
        cpu_cost = (on_cpu - off_cpu) / off_cpu * 100 if off_cpu else 0.0
        print(f"{protocol:<12} {on_rps:>10.0f} {off_rps:>10.0f} {rps_cost:>6.1f}% {on_cpu:>14.1f} {off_cpu:>7.1f} {cpu_cost:>6.1f}%")
        report.append({"dissection": protocol, "rps_on": on_rps, "rps_off": off_rps,
                       "cpu_us_per_req_on": on_cpu, "cpu_us_per_req_off": off_cpu})
    os.makedirs("reports", exist_ok=True)
    with open(os.path.join("reports", "generator-check.json"), "w") as f:
        json.dump(report, f, indent=2)
    shutil.rmtree(work, ignore_errors=True)
    if awake:
        awake.close()


if __name__ == "__main__":
    main()
