# The same steps CI runs. `make test` is what .ci/run calls.
CARGO ?= cargo
WIREBENCH = target/release/wirebench

.PHONY: bench test serve report schemas fmt lint build

## bench: build in release mode and run the main job (see README: the harness is not built yet)
bench: build
	@echo "wirebench: the measuring harness (wirebench run) is not built yet."
	@echo "Starting the servers instead, so you can try them; Ctrl-C stops."
	$(WIREBENCH) serve

build:
	$(CARGO) build --release -p wirebench

## test: format check, lints, every test
test: fmt-check lint
	$(CARGO) test --workspace --all-targets

## serve: every protocol on 127.0.0.1, ports from 7800
serve: build
	$(WIREBENCH) serve

## schemas: regenerate the contracts in schema/ from the code
schemas:
	$(CARGO) run -q -p wirebench -- schemas --out schema

## report: not built yet (issue: the HTML report)
report:
	@echo "wirebench report is not built yet" && exit 1

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
