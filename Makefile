# Every target creates .venv from scratch when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo web test test-reliability lint typecheck bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shipdeck demo

# The demo in a browser (textual-serve): open the address it prints (127.0.0.1:8000/?token=…).
web: $(STAMP)
	$(BIN)/shipdeck web --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (pytest-xdist): ~10 min on a 2-core machine instead of ~19 in one process.
test: lint typecheck
	$(BIN)/pytest -q -n 2 -m "not full"

# The fault-injection suite at full size, ~35 min (its fast sizes run in `make test`;
# figures in tests/reliability/README.md). CI runs both.
test-reliability: $(STAMP)
	$(BIN)/pytest -q -rP -m full tests/reliability

bench: $(STAMP)
	$(BIN)/python -m benchmarks

screenshots: $(STAMP)
	$(BIN)/python -m shipdeck.screenshots screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
