#!/usr/bin/env python3
"""What wirebench hands to the ecosystem, read by the ecosystem's own tools, offline:

- the Kubernetes manifests in deploy/k8s (base, every overlay, the merge step), rendered
  with kustomize (`kubectl kustomize`, or the same JSON patches applied with `jsonpatch`
  when kubectl is missing; both renderings must agree when both exist) and validated with
  kubernetes-validate against the pinned Kubernetes schema KUBERNETES (strict: no unknown
  fields);
- the OpenMetrics file a run writes (metrics.txt), parsed with prometheus_client's
  OpenMetrics parser and compared with the run's results.json;
- the Grafana dashboard in deploy/grafana, whose every query names a series that file has.

Usage: interop/deploy.py --binary target/debug/wirebench
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jsonpatch
import kubernetes_validate
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
# The Kubernetes version the manifests are checked against.
KUBERNETES = "1.32.0"


def render(folder):
    """The resources of a kustomization: its resources (recursively) with its labels and
    JSON patches applied. Only the kustomize features deploy/k8s uses."""
    with open(os.path.join(folder, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    docs = []
    for r in k.get("resources", []):
        path = os.path.join(folder, r)
        if os.path.isdir(path):
            docs += render(path)
        else:
            with open(path) as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    for entry in k.get("labels", []):
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for p in k.get("patches", []):
        t = p["target"]
        for i, d in enumerate(docs):
            if d["kind"] == t["kind"] and d["metadata"]["name"] == t["name"]:
                docs[i] = jsonpatch.apply_patch(d, yaml.safe_load(p["patch"]))
    unknown = set(k) - {"apiVersion", "kind", "resources", "labels", "patches"}
    assert not unknown, f"{folder}: render() does not know {unknown}"
    return docs


def kustomize(folder):
    out = subprocess.run(["kubectl", "kustomize", folder], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def key(d):
    return (d["kind"], d["metadata"]["name"])


def check_manifests():
    folders = [os.path.join(K8S, "base"), os.path.join(K8S, "merge")]
    overlays = os.path.join(K8S, "overlays")
    folders += [os.path.join(overlays, o) for o in sorted(os.listdir(overlays))]
    have_kubectl = shutil.which("kubectl") is not None
    for folder in folders:
        docs = render(folder)
        if have_kubectl:
            theirs = sorted(kustomize(folder), key=key)
            assert sorted(docs, key=key) == theirs, f"{folder}: kubectl kustomize renders otherwise"
        for d in docs:
            kubernetes_validate.validate(copy.deepcopy(d), KUBERNETES, strict=True)
        jobs = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "wirebench-generators"]
        for job in jobs:
            spec = job["spec"]
            shards = spec["template"]["spec"]["containers"][0]["env"][0]
            assert shards["name"] == "SHARDS" and int(shards["value"]) == spec["completions"], folder
            assert spec["completionMode"] == "Indexed" and spec["parallelism"] == spec["completions"], folder
        name = os.path.relpath(folder, K8S)
        print(f"ok   k8s {name}: {len(docs)} resources valid for Kubernetes {KUBERNETES}"
              f"{' (kubectl kustomize agrees)' if have_kubectl else ''}")


def check_openmetrics(binary, work):
    out = os.path.join(work, "reports")
    subprocess.run(
        [binary, "run", "--profile", "smoke", "--protocols", "rest,grpc", "--operations", "get-user,list-orders",
         "--no-open-loop", "--concurrency", "1", "--duration", "0.3", "--warmup", "0.1", "--repeat", "1",
         "--format", "csv", "--out", out],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = os.path.join(out, "latest")
    with open(os.path.join(run, "metrics.txt")) as f:
        text = f.read()
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["wirebench_latency_seconds"].type == "histogram", families.keys()
    assert families["wirebench_operations"].type == "counter"
    for g in ("wirebench_sent_bytes", "wirebench_received_bytes", "wirebench_round_trips",
              "wirebench_throughput_ops_per_second"):
        assert families[g].type == "gauge", g
    # Every cell's operations and latency count, as results.json has them.
    ops = {(s.labels["protocol"], s.labels["operation"]): s.value
           for s in families["wirebench_operations"].samples}
    counts = {(s.labels["protocol"], s.labels["operation"]): s.value
              for s in families["wirebench_latency_seconds"].samples if s.name.endswith("_count")}
    sent = {(s.labels["protocol"], s.labels["operation"]): s.value
            for s in families["wirebench_sent_bytes"].samples}
    for c in results["cells"]:
        k = (c["protocol"], c["operation"])
        assert ops[k] == c["ops"], (k, ops[k], c["ops"])
        assert counts[k] == c["latency"]["count"], k
        assert abs(sent[k] - c["bytes"]["sent_per_op"]["total_bytes"]) < 1e-6, k
    print(f"ok   OpenMetrics: {len(families)} families, {len(results['cells'])} cells as results.json has them")
    return {s.name for f in families.values() for s in f.samples}


def check_dashboard(series):
    with open(os.path.join(ROOT, "deploy", "grafana", "wirebench.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = {m for e in exprs for m in re.findall(r"\bwirebench_[a-z_]+", e)}
    missing = used - series
    assert not missing, f"the dashboard queries series the file lacks: {missing}"
    print(f"ok   Grafana dashboard: {len(exprs)} queries over {len(used)} series, all in metrics.txt")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "wirebench"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="wirebench-deploy-")
    try:
        check_manifests()
        check_dashboard(check_openmetrics(args.binary, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
