# The same steps CI runs. `make test` is what .ci/run calls; it sets up what the tests need
# by itself (see `setup`) and does nothing more the second time.
CARGO ?= cargo
# Cargo's output directory: the user's CARGO_TARGET_DIR when set, else target/ here.
TARGET_DIR := $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
WIREBENCH = $(TARGET_DIR)/release/wirebench
DEBUG_WIREBENCH = $(TARGET_DIR)/debug/wirebench
# The project's own Python environment for the interop check (never the system's packages).
VENV = .venv
PYTHON = $(VENV)/bin/python
BROWSER = bench/tests/browser
# Criterion's whole output goes here; `make bench` shows one line per codec group.
CODECS_LOG = $(TARGET_DIR)/criterion/codecs.log

.PHONY: bench sample codecs faults bench-generator build test setup system-tools serve report schemas fmt fmt-check lint

## bench: release build, codec benches (a quick criterion setting), then the quick profile:
## servers start inside, results and the HTML report in reports/latest
bench: build codecs
	$(WIREBENCH) run --profile quick

## sample: make bench, then keep its results as docs/sample/results.json and write the
## README's figures from them (a test checks that the two agree)
sample: bench
	mkdir -p docs/sample
	cp reports/latest/results.json docs/sample/results.json
	$(WIREBENCH) sample

## codecs: the serialization benches, criterion's chatter kept in $(CODECS_LOG)
codecs:
	@scripts/codecs.sh $(CODECS_LOG) --warm-up-time 0.2 --measurement-time 0.5 --nresamples 20000

## faults: faults and retries (unavailable, lost answers, resets; retry policies, keys, a
## budget, a breaker; recovery after an outage): reports/faults-<time>/faults.{json,html}
faults: build
	$(WIREBENCH) faults

## bench-generator: wirebench's load generator against wrk and h2load on the same server, at
## 16 and 256 connections and in open loop (under 3 minutes; exits 1 when a goal is missed, 2
## when a figure is impossible): reports/generator-check.json, quoted by the reports' method
bench-generator: build
	python3 bench/scripts/generator_check.py --binary $(WIREBENCH)

build:
	$(CARGO) build --release -p wirebench

## test: set-up, format check, lints, every test (the harness's smoke profile and the
## report's browser check included), then the cross-language interop check and the REST
## server's property-based contract test against its OpenAPI document (schemathesis), the
## deployment check (Kubernetes manifests, OpenMetrics file, Grafana dashboard), and (as root)
## the emulated link against the kernel's TCP over a packet-level link
test: setup fmt-check lint
	$(CARGO) test --workspace --all-targets
	$(PYTHON) -m unittest discover -s bench/scripts -p 'test_*.py'
	$(PYTHON) interop/check.py --binary $(DEBUG_WIREBENCH)
	$(PYTHON) interop/contract.py --binary $(DEBUG_WIREBENCH)
	$(PYTHON) interop/deploy.py --binary $(DEBUG_WIREBENCH)
	$(PYTHON) interop/linkcheck.py --binary $(DEBUG_WIREBENCH)

## setup: what the tests need that a fresh clone lacks; each step runs only when its input
## changed (requirements.txt, package-lock.json) or its tool is missing
setup: system-tools $(VENV)/.installed $(BROWSER)/node_modules/.installed

system-tools:
	@scripts/system-tools.sh

$(VENV)/.installed: interop/requirements.txt interop/requirements-nodeps.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps -r interop/requirements-nodeps.txt
	@touch $@

$(BROWSER)/node_modules/.installed: $(BROWSER)/package-lock.json
	cd $(BROWSER) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## serve: every protocol on 127.0.0.1, ports from 7800
serve: build
	$(WIREBENCH) serve

## schemas: regenerate the contracts in schema/ from the code
schemas:
	$(CARGO) run -q -p wirebench -- schemas --out schema

## report: re-render reports/latest/index.html from its results.json (and the codec benches)
report: build
	$(WIREBENCH) report reports/latest/results.json

fmt:
	$(CARGO) fmt --all

fmt-check: system-tools
	$(CARGO) fmt --all --check

lint: system-tools
	$(CARGO) clippy --workspace --all-targets -- -D warnings
