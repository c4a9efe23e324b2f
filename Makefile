# The same steps CI runs. `make test` is what .ci/run calls.
CARGO ?= cargo
WIREBENCH = target/release/wirebench

.PHONY: bench bench-generator build test serve report schemas fmt fmt-check lint

## bench: release build, codec benches (a quick criterion setting), then the quick profile:
## servers start inside, results and the HTML report in reports/latest
bench: build
	$(CARGO) bench -p wirebench --bench codecs -- --warm-up-time 0.2 --measurement-time 0.5 --nresamples 20000
	$(WIREBENCH) run --profile quick

## bench-generator: wirebench's load generator against wrk and h2load on the same server
bench-generator: build
	python3 bench/scripts/generator_check.py --binary $(WIREBENCH)

build:
	$(CARGO) build --release -p wirebench

## test: format check, lints, every test (the harness's smoke profile included), then the
## cross-language interop check (Python gRPC stubs, plain HTTP and WebSocket clients)
test: fmt-check lint
	$(CARGO) test --workspace --all-targets
	python3 interop/check.py --binary target/debug/wirebench

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

fmt-check:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
