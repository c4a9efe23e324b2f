# The same steps CI runs. `make test` is what .ci/run calls.
CARGO ?= cargo
WIREBENCH = target/release/wirebench

.PHONY: bench bench-generator build test serve report schemas fmt fmt-check lint

## bench: release build, then the quick profile: servers start inside, results in reports/latest
bench: build
	$(WIREBENCH) run --profile quick

## bench-generator: wirebench's load generator against wrk and h2load on the same server
bench-generator: build
	python3 bench/scripts/generator_check.py --binary $(WIREBENCH)

build:
	$(CARGO) build --release -p wirebench

## test: format check, lints, every test (the harness's smoke profile included)
test: fmt-check lint
	$(CARGO) test --workspace --all-targets

## serve: every protocol on 127.0.0.1, ports from 7800
serve: build
	$(WIREBENCH) serve

## schemas: regenerate the contracts in schema/ from the code
schemas:
	$(CARGO) run -q -p wirebench -- schemas --out schema

## report: not built yet (the HTML report is the next issue)
report:
	@echo "wirebench report is not built yet: results are in reports/latest/results.json" && exit 1

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
