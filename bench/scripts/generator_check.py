#!/usr/bin/env python3
"""Is wirebench's load generator the bottleneck? Measure it against wrk (HTTP/1.1) and
h2load (h2c, and gRPC with a pre-framed body) on the same server, endpoint and connections,
in one run; print each ratio with an interval from repeats; exit non-zero when a goal is
missed or a figure is impossible.

Usage: generator_check.py [--binary target/release/wirebench] [--seconds 1] [--repeats 3]
                          [--connections 16,256] [--out reports/generator-check.json]

How it measures:
- The server is pinned to core 0 and every client to core 1 (taskset), one client at a
  time; idle CPUs are kept awake for the whole check (a 0 µs /dev/cpu_dma_latency request,
  when permitted), as `wirebench run` does.
- Each comparison (endpoint × connections) runs the tool and wirebench alternately,
  `--repeats` times each, so a machine that drifts moves both. A ratio is the mean of the
  paired ratios (wirebench ÷ the tool run just before it), with a Student-t 95 % interval
  over the pairs.
- Requests/s: each tool's own figure. CPU per request: wrk and h2load, their whole process
  CPU (getrusage of the child, connection set-up included) over their requests; wirebench,
  the client CPU per operation its results.json records over the cell's recorded window,
  less the time it spent decoding answers into domain types, which the others do not do
  (reported apart).
- Dissection: at the first connection count, every wirebench cell is followed by the same
  cell with `--no-dissect`; its cost is the paired difference, with its interval, or
  "below the noise" when the interval holds zero.
- Open loop (wrk2's mode): wrk2 is not in Debian, so wirebench's open loop is compared with
  its own closed loop at the same throughput: a closed loop on one connection, then an open
  loop on 16 connections at the rate that closed loop reached (a quarter of what 16 closed
  connections reach here, so the schedule is kept; a send missed fails the goal).

Goals (exit 1 when one is missed): wirebench's requests/s at least the tool's (ratio ≥ 1.0)
and its CPU per request, decoding apart, at most the tool's (ratio ≤ 1.0); the open loop at
most the closed loop's CPU per request, with no send missed. Exit 2 when a figure is impossible (decoding longer
than the client's whole CPU time, a non-positive CPU figure, errors in a cell).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Student's t, two-sided 95 %, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}

STARTED = time.monotonic()


def progress(msg):
    print(f"[{time.monotonic() - STARTED:6.1f} s] {msg}", file=sys.stderr, flush=True)


def interval(xs):
    """Mean and 95 % interval (Student t over the values); a single value has none."""
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return {"mean": m, "lo": None, "hi": None, "n": len(xs)}
    half = T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))
    return {"mean": m, "lo": m - half, "hi": m + half, "n": len(xs)}


def fmt_ci(ci, digits=2):
    if ci["lo"] is None:
        return f"{ci['mean']:.{digits}f}"
    return f"{ci['mean']:.{digits}f} [{ci['lo']:.{digits}f}–{ci['hi']:.{digits}f}]"


def pinned(core, cmd):
    return (["taskset", "-c", str(core)] if shutil.which("taskset") else []) + cmd


def run_child(cmd):
    """Runs cmd; returns (stdout, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def wrk(url, conns, secs):
    out, cpu = run_child(pinned(1, ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", url]))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(bad.group(1)) if bad else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "cpu_us": cpu * 1e6 / max(total, 1), "errors": errors, "requests": total}


def h2load(url, conns, secs, extra=()):
    out, cpu = run_child(pinned(1, ["h2load", "-t1", f"-c{conns}", "-m1", "-D", str(secs), *extra, url]))
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    ok, failed, errored = (int(x) for x in m.groups())
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    return {"rps": rps, "cpu_us": cpu * 1e6 / max(ok, 1), "errors": failed + errored, "requests": ok}


class Wirebench:
    def __init__(self, binary, target, work, secs):
        self.binary, self.target, self.work, self.secs = binary, target, work, secs
        self.runs = 0

    def cell(self, protocol, conns, extra=(), rate=None):
        """One run of one cell; its figures from results.json."""
        self.runs += 1
        out = os.path.join(self.work, f"wb-{self.runs}")
        cmd = [self.binary, "run", "--target", self.target, "--protocols", protocol,
               "--operations", "get-user", "--concurrency", str(conns), "--duration", str(self.secs),
               "--warmup", "0.5", "--repeat", "1", "--network", "loopback", "--tls", "plain",
               "--no-pin", "--out", out, *extra]
        cmd += ["--rate", str(rate)] if rate else ["--no-open-loop"]
        done = subprocess.run(pinned(1, cmd), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"wirebench failed ({' '.join(cmd)}):\n{done.stderr.strip()}")
        with open(os.path.join(out, "latest", "results.json")) as f:
            cells = json.load(f)["cells"]
        mode = "open" if rate else "closed"
        cell = next(c for c in cells if c["mode"] == mode and c["concurrency"] == conns)
        decode_us = (cell["client_decode"] or {}).get("mean_ns", 0.0) / 1e3
        cpu_us = cell["resources"]["client_cpu_us_per_op"] or 0.0
        shutil.rmtree(out, ignore_errors=True)
        return {"rps": cell["throughput_ops_s"], "cpu_us": cpu_us, "decode_us": decode_us,
                "net_cpu_us": cpu_us - decode_us, "errors": sum(cell["errors"].values()),
                "missed": cell.get("missed", 0), "requests": cell["ops"]}


def hold_idle_cpus():
    """Keeps idle CPUs awake while the returned file is open (None when not permitted)."""
    try:
        f = open("/dev/cpu_dma_latency", "wb", buffering=0)
        f.write((0).to_bytes(4, sys.byteorder, signed=True))
        return f
    except OSError as e:
        print(f"note: idle CPUs may sleep ({e})", file=sys.stderr)
        return None


def install_tools():
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("h2load", "nghttp2-client")) if not shutil.which(tool)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"needs {' '.join(missing)}: sudo apt-get install {' '.join(missing)}")
    progress(f"installing {' '.join(missing)} from Debian's packages")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def start_server(binary, port_base, work):
    addr_file = os.path.join(work, "servers.json")
    server = subprocess.Popen(pinned(0, [binary, "serve", "--port-base", str(port_base), "--payload", "small",
                                         "--addr-file", addr_file]), stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not os.path.exists(addr_file):
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            sys.exit("the server did not start")
        time.sleep(0.05)
    time.sleep(0.1)
    with open(addr_file) as f:
        return server, json.load(f)


def endpoints(addrs, work):
    """(name, tool, wirebench protocol, how to run the tool)."""
    rest, grpc = addrs["rest"], addrs["grpc"]
    body = os.path.join(work, "get_user.bin")
    with open(body, "wb") as f:
        msg = bytes([0x08, 0x01])  # GetUserRequest{id: 1}: field 1, varint 1
        f.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)
    grpc_args = ["-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers"]
    return [
        ("HTTP/1.1 GET /v1/users/1", "wrk", "rest", lambda c, s: wrk(f"http://{rest}/v1/users/1", c, s)),
        ("h2c GET /v1/users/1", "h2load", "rest-h2", lambda c, s: h2load(f"http://{rest}/v1/users/1", c, s)),
        ("gRPC GetUser (h2c)", "h2load", "grpc",
         lambda c, s: h2load(f"http://{grpc}/wirebench.v1.Shop/GetUser", c, s, grpc_args)),
    ]


def impossible(where, fig):
    """What is impossible about one wirebench figure (empty when nothing)."""
    out = []
    if fig["errors"]:
        out.append(f"{where}: {fig['errors']} errors")
    if fig["cpu_us"] <= 0:
        out.append(f"{where}: client CPU per request {fig['cpu_us']:.2f} µs")
    if fig["decode_us"] > fig["cpu_us"]:
        out.append(f"{where}: decoding {fig['decode_us']:.2f} µs per request, above the client's whole CPU "
                   f"{fig['cpu_us']:.2f} µs")
    return out


def compare(wb, name, tool, protocol, run_tool, conns, repeats, secs, dissect, problems):
    pairs, off = [], []
    for i in range(repeats):
        t = run_tool(conns, secs)
        if t["errors"]:
            problems.append(f"{name} at {conns}: {tool} had {t['errors']} errors")
        w = wb.cell(protocol, conns)
        problems.extend(impossible(f"{name} at {conns}, wirebench #{i + 1}", w))
        pairs.append((t, w))
        line = (f"{name}, {conns} connections, #{i + 1}/{repeats}: {tool} {t['rps']:,.0f} req/s "
                f"{t['cpu_us']:.2f} µs/req; wirebench {w['rps']:,.0f} req/s {w['cpu_us']:.2f} µs/req "
                f"({w['decode_us']:.2f} decoding)")
        if dissect:
            o = wb.cell(protocol, conns, ["--no-dissect"])
            problems.extend(impossible(f"{name} at {conns}, wirebench --no-dissect #{i + 1}", o))
            off.append((w, o))
            line += f"; undissected {o['rps']:,.0f} req/s {o['cpu_us']:.2f} µs/req"
        progress(line)
    row = {
        "endpoint": name, "tool": tool, "protocol": protocol, "connections": conns,
        "tool_rps": interval([t["rps"] for t, _ in pairs]),
        "tool_cpu_us_per_req": interval([t["cpu_us"] for t, _ in pairs]),
        "wirebench_rps": interval([w["rps"] for _, w in pairs]),
        "wirebench_cpu_us_per_req": interval([w["cpu_us"] for _, w in pairs]),
        "wirebench_decode_us_per_req": interval([w["decode_us"] for _, w in pairs]),
        "ratio_rps": interval([w["rps"] / t["rps"] for t, w in pairs]),
        "ratio_cpu_excluding_decode": interval([w["net_cpu_us"] / t["cpu_us"] for t, w in pairs]),
    }
    row["goals_met"] = row["ratio_rps"]["mean"] >= 1.0 and row["ratio_cpu_excluding_decode"]["mean"] <= 1.0
    cost = None
    if dissect:
        cost = {"protocol": protocol, "connections": conns,
                "rps_cost_pct": interval([(o["rps"] - w["rps"]) / o["rps"] * 100 for w, o in off]),
                "cpu_cost_pct": interval([(w["cpu_us"] - o["cpu_us"]) / o["cpu_us"] * 100 for w, o in off])}
        for key in ("rps_cost_pct", "cpu_cost_pct"):
            ci = cost[key]
            cost[key]["verdict"] = ("below the noise" if ci["lo"] is None or ci["lo"] <= 0 <= ci["hi"]
                                    else f"{ci['mean']:+.1f} %")
    return row, cost


def open_loop(wb, repeats, problems):
    """Open loop on 16 connections at the rate a closed loop on one reached, against that closed loop."""
    pairs, missed = [], 0
    for i in range(repeats):
        closed = wb.cell("rest", 1)
        rate = round(closed["rps"])
        opened = wb.cell("rest", 16, rate=rate)
        problems.extend(impossible(f"open loop #{i + 1}", opened) + impossible(f"closed loop #{i + 1}", closed))
        missed += opened["missed"]
        pairs.append((closed, opened))
        progress(f"open loop #{i + 1}/{repeats}: closed on 1 connection {closed['rps']:,.0f} req/s "
                 f"{closed['cpu_us']:.2f} µs/req; open on 16 at {rate:,}/s: {opened['rps']:,.0f} req/s "
                 f"{opened['cpu_us']:.2f} µs/req")
    row = {
        "endpoint": "HTTP/1.1 GET /v1/users/1, open loop", "against": "wirebench closed loop, same throughput",
        "closed_connections": 1, "open_connections": 16, "missed_sends": missed,
        "closed_rps": interval([c["rps"] for c, _ in pairs]),
        "open_rps": interval([o["rps"] for _, o in pairs]),
        "closed_cpu_us_per_req": interval([c["net_cpu_us"] for c, _ in pairs]),
        "open_cpu_us_per_req": interval([o["net_cpu_us"] for _, o in pairs]),
        "ratio_cpu_excluding_decode": interval([o["net_cpu_us"] / c["net_cpu_us"] for c, o in pairs]),
    }
    row["goals_met"] = row["ratio_cpu_excluding_decode"]["mean"] <= 1.0 and missed == 0
    return row


def print_tables(rows, costs, opened):
    print()
    print(f"{'endpoint':<26} {'conns':>5} {'tool':<7} {'tool req/s':>10} {'req/s ratio':>20} "
          f"{'tool µs/req':>11} {'wb µs/req':>9} {'decode':>6} {'CPU ratio, decode apart':>24}  goals")
    for r in rows:
        print(f"{r['endpoint']:<26} {r['connections']:>5} {r['tool']:<7} {r['tool_rps']['mean']:>10,.0f} "
              f"{fmt_ci(r['ratio_rps']):>20} {r['tool_cpu_us_per_req']['mean']:>11.2f} "
              f"{r['wirebench_cpu_us_per_req']['mean']:>9.2f} {r['wirebench_decode_us_per_req']['mean']:>6.2f} "
              f"{fmt_ci(r['ratio_cpu_excluding_decode']):>24}  {'met' if r['goals_met'] else 'MISSED'}")
    print("ratios: wirebench ÷ tool, mean of the paired repeats [95 % interval]; "
          "goals: req/s ratio ≥ 1.0 and CPU ratio ≤ 1.0")
    print()
    for c in costs:
        print(f"dissection, {c['protocol']} at {c['connections']}: req/s {fmt_ci(c['rps_cost_pct'], 1)} % "
              f"({c['rps_cost_pct']['verdict']}), CPU per request {fmt_ci(c['cpu_cost_pct'], 1)} % "
              f"({c['cpu_cost_pct']['verdict']})")
    print(f"open loop at {opened['closed_rps']['mean']:,.0f}/s on 16 connections against the closed loop on 1 "
          f"at the same throughput: CPU per request, decoding apart, {opened['open_cpu_us_per_req']['mean']:.2f} "
          f"against {opened['closed_cpu_us_per_req']['mean']:.2f} µs, ratio "
          f"{fmt_ci(opened['ratio_cpu_excluding_decode'])}, {opened['missed_sends']} sends missed"
          f"  {'met' if opened['goals_met'] else 'MISSED'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/wirebench")
    ap.add_argument("--seconds", type=float, default=1.0, help="recorded seconds per cell (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each tool per comparison (default 3)")
    ap.add_argument("--connections", default="16,256")
    ap.add_argument("--port-base", type=int, default=17800)
    ap.add_argument("--out", default=os.path.join("reports", "generator-check.json"))
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    secs = args.seconds if args.seconds != int(args.seconds) else int(args.seconds)
    install_tools()
    version = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.strip()
    awake = hold_idle_cpus()
    work = tempfile.mkdtemp(prefix="wirebench-generator-")
    server, addrs = start_server(args.binary, args.port_base, work)
    problems, rows, costs = [], [], []
    try:
        wb = Wirebench(args.binary, addrs["rest"], work, secs)
        progress(f"{version}: server on core 0, each client on core 1; {args.repeats} repeats of {secs} s cells")
        for c in conns:
            for name, tool, protocol, run_tool in endpoints(addrs, work):
                row, cost = compare(wb, name, tool, protocol, run_tool, c, args.repeats, secs, c == conns[0], problems)
                rows.append(row)
                if cost:
                    costs.append(cost)
        opened = open_loop(wb, args.repeats, problems)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
        if awake:
            awake.close()
    print_tables(rows, costs, opened)
    missed, code = judge(rows, opened, problems)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "version": version, "command": " ".join(sys.argv[1:]),
        "machine": {"cores": os.cpu_count(), "kernel": platform.release(), "cpu": cpu_model()},
        "seconds": secs, "repeats": args.repeats, "took_s": round(time.monotonic() - STARTED, 1),
        "rows": rows, "dissection": costs, "open_loop": opened,
        "goals_met": not missed, "missed": missed, "impossible": problems,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"written: {args.out} ({report['took_s']} s)")
    if problems:
        print("impossible figures:\n  " + "\n  ".join(problems), file=sys.stderr)
    if missed:
        print("goals missed: " + "; ".join(missed), file=sys.stderr)
    sys.exit(code)


def judge(rows, opened, problems):
    """The goals missed, and the exit code: 2 for an impossible figure, 1 for a missed goal."""
    missed = [f"{r['endpoint']} at {r['connections']}" for r in rows if not r["goals_met"]]
    if opened and not opened["goals_met"]:
        missed.append("open loop")
    return missed, 2 if problems else 1 if missed else 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


if __name__ == "__main__":
    main()
