# The two set-up commands of the README: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps, one per install set: serving needs only the runtime dependencies, the
# tests, the linters and the benchmarks add the `dev` extra. Installing the dev set also
# satisfies the runtime one, so `make test` then `make serve` installs nothing more.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
PIP := $(BIN)/pip install -q --disable-pip-version-check

.PHONY: serve test lint venv bench clean

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -e .
	touch $(RUNTIME)

$(DEV): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -e '.[dev]'
	touch $(DEV) $(RUNTIME)

venv: $(DEV)

## Install, initialise (SQLite in ./data; the owner's API key written once to owner.key,
## mode 0600) and serve on http://127.0.0.1:8080 in the foreground (Ctrl-C stops it)
OWNER_KEY ?= owner.key
serve: $(RUNTIME)
	$(BIN)/iam init --apikey-file $(OWNER_KEY)
	$(BIN)/iam serve

## Lint, type-check and run the whole suite on SQLite and PostgreSQL
# Two pytest runs (README "Development"): every test not marked `serial` on TEST_WORKERS
# pytest-xdist workers (each file on one worker), then the `serial` group alone in file order
# (tests/test_zz_faults.py, which stops PostgreSQL, last). Both always run; the target fails
# if either fails.
TEST_WORKERS ?= 2
test: $(DEV)
	bash scripts/ensure-system.sh
	$(BIN)/ruff check iam tests bench
	$(BIN)/mypy iam
	@parallel=0; serial=0; \
	echo "== parallel run: $(TEST_WORKERS) workers, all tests not marked serial"; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" || parallel=$$?; \
	echo "== serial run: the tests marked serial, alone"; \
	$(BIN)/pytest -p no:xdist -m serial || serial=$$?; \
	test $$parallel -eq 0 && test $$serial -eq 0 || { \
	echo "== make test failed: parallel run exit $$parallel, serial run exit $$serial"; exit 1; }

lint: $(DEV)
	$(BIN)/ruff check iam tests bench
	$(BIN)/mypy iam

bench: $(DEV)
	bash scripts/ensure-system.sh
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data
