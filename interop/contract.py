#!/usr/bin/env python3
"""Property-based contract test: the REST server against its own OpenAPI document, with
schemathesis (stock tooling from another language).

Requests are generated from `/v1/openapi.json` (valid ones and, for the negative checks,
invalid ones) with a fixed seed, and every answer is checked: no server error, a status
the operation documents, in the documented content type and schema, every valid request
accepted and every invalid one refused, the documented headers, 405 with `Allow` for an
undocumented method, and a created order found until it is deleted.

What no schema can say, and this script supplies in place of generated values the schema
allows (values it forbids are left alone, to be refused):
- a `cursor` is a token the server issued for the same `sort`: a generated one is replaced
  by a real one for the request's sort;
- a new order's `user_id` must name an existing user: a generated one is mapped onto the
  users the server holds;
- an `Idempotency-Key` used again with another body is refused (422, by design): generated
  keys get a unique suffix.
A batch answers 200 with each order's own outcome, so invalid values inside its orders are
refused per order, not by status: the negative-data check leaves that one operation out.

Usage: interop/contract.py --binary target/debug/wirebench [--seed N] [--max-examples N]
Needs: schemathesis 4 (interop/requirements.txt). Prints the seed, the number of generated
cases, failures and server errors, and the time taken; exits non-zero on any failure or error.
"""
import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import MutableMapping

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The facts the hooks need, handed from this script to the schemathesis process.
FACTS_ENV = "WIREBENCH_CONTRACT_FACTS"
SEED = 1313
MAX_EXAMPLES = 200
CURSOR = re.compile(r"[A-Za-z0-9_-]+")
KEY = re.compile(r"[!-~]{1,255}")
NDJSON = "application/x-ndjson"
SORTS = ["id", "-id", "created_at", "-created_at", "total_cents", "-total_cents"]
# The sort a listing uses when the request names none.
DEFAULT_SORT = {"/v1/orders": "id", "/v1/users/{id}/orders": "-created_at", "/v1/users": "user"}


def get_json(base, path):
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as r:
        return json.load(r)


def facts(base):
    """The users the server holds, and one real cursor per sort (`user` for the users')."""
    users = [u["id"] for u in get_json(base, "/v1/users?limit=1000&fields=id")["data"]]
    cursors = {"user": get_json(base, "/v1/users?limit=1")["next_cursor"]}
    for sort in SORTS:
        cursors[sort] = get_json(base, f"/v1/orders?limit=1&sort={sort}")["next_cursor"]
    assert users and all(cursors.values()), (users, cursors)
    return {"users": users, "cursors": cursors}


def whole(value):
    """`value` as an int when it is a whole JSON number (`3` or `3.0`), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


def register_hooks(known):
    """The hook for the schemathesis process: what no schema says, supplied in place of values
    the schema allows (a value it forbids, meant to be refused, is left alone)."""
    import jsonschema_rs
    import schemathesis

    users, cursors, serial = known["users"], known["cursors"], itertools.count()

    # Just before each request is sent, in every phase (stateful sequences included). Valid and
    # invalid cases alike: a case's mode is settled only once it is sent.
    @schemathesis.hook
    def before_call(context, case, kwargs):
        path = case.operation.path
        query = case.query if isinstance(case.query, MutableMapping) else {}
        cursor = query.get("cursor")
        if isinstance(cursor, str) and CURSOR.fullmatch(cursor):
            sort = query.get("sort") or DEFAULT_SORT.get(path)
            if isinstance(sort, str) and sort in cursors:
                query["cursor"] = cursors[sort]
        body = case.body
        if path == "/v1/orders" and case.method.upper() == "POST" and isinstance(body, dict):
            user = whole(body.get("user_id"))
            if user is not None and user >= 1:
                real = users[user % len(users)]
                body["user_id"] = float(real) if isinstance(body["user_id"], float) else real
        headers = case.headers if isinstance(case.headers, MutableMapping) else {}
        key = headers.get("Idempotency-Key")
        if isinstance(key, str) and KEY.fullmatch(key):
            headers["Idempotency-Key"] = f"{key[:240]}.{next(serial)}"

    # OpenAPI 3.1 cannot say "one JSON value of this schema per line", so schemathesis does not
    # read `application/x-ndjson` answers: this check reads every line against the schema.
    @schemathesis.check
    def ndjson_lines_conform(ctx, response, case):
        content_type = (response.headers.get("content-type") or [""])[0]
        if not content_type.startswith(NDJSON):
            return None
        document = case.operation.schema.raw_schema
        operation = document["paths"][case.operation.path][case.method.lower()]
        schema = operation["responses"][str(response.status_code)]["content"][NDJSON]["schema"]
        validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
        for number, line in enumerate(response.content.splitlines(), 1):
            errors = [e.message for e in validator.iter_errors(json.loads(line))]
            assert not errors, f"line {number} of the {NDJSON} answer: {'; '.join(errors)}"
        return None


# Every check, with the one exception the docstring explains; any warning fails the run, but
# the one about NDJSON, which `ndjson_lines_conform` reads instead.
CONFIG = """\
[checks]
enabled = true

[warnings]
display = ["missing_auth", "missing_test_data", "base_url_mismatch", "validation_mismatch",
           "unused_openapi_auth", "unsupported_regex", "method_not_allowed", "constants_extraction",
           "unmatched_filter", "unresolvable_reference", "low_valid_rate", "rate_limited",
           "dictionary_mismatch", "timeout_units"]
fail-on = true

[[operations]]
include-path = "/v1/orders/batch"
checks.negative_data_rejection.enabled = false
"""


def run_schemathesis(base, known, work, seed, max_examples):
    """Runs schemathesis against `base`; returns its exit code and its JSON report."""
    config, report = os.path.join(work, "schemathesis.toml"), os.path.join(work, "report")
    with open(config, "w") as f:
        f.write(CONFIG)
    env = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.abspath(__file__), **{FACTS_ENV: json.dumps(known)})
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", config, "run",
               f"{base}/v1/openapi.json", "--seed", str(seed), "--max-examples", str(max_examples),
               "--workers", "1", "--generation-database", "none", "--no-color",
               "--report", "json", "--report-dir", report]
    print("contract: schemathesis", " ".join(command[4:]), flush=True)
    # In the scratch directory: schemathesis keeps a cache in its working directory.
    rc = subprocess.run(command, env=env, cwd=work).returncode
    with open(os.path.join(report, os.listdir(report)[0])) as f:
        return rc, json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "wirebench"))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--max-examples", type=int, default=MAX_EXAMPLES,
                    help="most generated cases per operation and phase")
    args = ap.parse_args()
    import schemathesis
    # Here, not at the top: schemathesis also loads this file, as its hooks module, where
    # interop/ is not on the import path.
    from serving import serving
    work = tempfile.mkdtemp(prefix="wirebench-contract-")
    started = time.monotonic()
    with serving(args.binary, work) as addrs:
        base = f"http://{addrs['rest']}"
        rc, report = run_schemathesis(base, facts(base), work, args.seed, args.max_examples)
    cases, failures, errors = report["test_cases"]["generated"], report["failures"], report["errors"]
    failed = sum(f["count"] for f in failures)
    server_errors = sum(f["count"] for f in failures if f["type"].endswith("ServerError"))
    print(f"contract: schemathesis {schemathesis.__version__}, seed {args.seed}, {cases} generated cases "
          f"(at most {args.max_examples} per operation and phase): {failed} failures, {server_errors} server "
          f"errors, {len(errors)} errors, in {time.monotonic() - started:.1f} s")
    if rc != 0 or failed or errors:
        sys.exit(f"contract: the server and /v1/openapi.json disagree (schemathesis exit {rc}); the same "
                 f"cases again: --seed {args.seed}; the report: {work}/report")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
elif os.environ.get(FACTS_ENV):
    register_hooks(json.loads(os.environ[FACTS_ENV]))
