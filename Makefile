# The two set-up commands of the README: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint venv bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Install, initialise (SQLite in ./data) and serve on http://127.0.0.1:8080
serve: $(STAMP)
	$(BIN)/iam init
	$(BIN)/iam serve

## Lint, type-check and run the whole suite on SQLite and PostgreSQL
test: $(STAMP)
	bash scripts/ensure-system.sh
	$(BIN)/ruff check iam tests bench
	$(BIN)/mypy iam
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check iam tests bench
	$(BIN)/mypy iam

bench: $(STAMP)
	bash scripts/ensure-system.sh
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data
