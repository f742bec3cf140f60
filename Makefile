# The two commands of the README: `make run` and `make test`. Nothing else to install.
VENV   ?= .venv
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            && echo $$p && break; done)
BIN    := $(VENV)/bin
# Exact versions with hashes (scripts/lock.sh): CI tests what `make run` and the image install.
LOCK        := requirements/lock.txt
SERVER_LOCK := requirements/server.txt
PIP         := $(BIN)/python -m pip install --quiet

.PHONY: run test lint lock bench fuzz clean

run: $(VENV)/.installed
	$(BIN)/mla serve

test: $(VENV)/.installed-test
	bash scripts/run-tests.sh

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# Long fuzzing of the evidence package opener and the age header parser (issue 12); `make test`
# runs the same tests with a few dozen examples each. FUZZ_EXAMPLES=N to change the length.
FUZZ_EXAMPLES ?= 20000
fuzz: $(VENV)/.installed-test
	MLA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider -q \
		tests/unit/test_fuzz_evidence.py tests/unit/test_bagit.py -k "fuzz or corrupted"

# wrk drives the service and bare litestar baselines on PostgreSQL and SQLite (issue 13);
# it needs `wrk` (apt-get install wrk). BENCH_ARGS="--duration 20" etc.; see --help. The
# older Python-client append bench still runs as: $(BIN)/python bench/statement_append.py
BENCH_ARGS ?=
bench: $(VENV)/.installed-test
	bash scripts/with-postgres.sh $(BIN)/python bench/wrk_bench.py $(BENCH_ARGS)

$(VENV)/.created:
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is needed (python3.11 or newer on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

# The locked dependencies, then the project itself without resolving anything again.
$(VENV)/.installed: $(VENV)/.created pyproject.toml $(SERVER_LOCK)
	$(PIP) --require-hashes -r $(SERVER_LOCK)
	$(PIP) --no-deps -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.created pyproject.toml $(LOCK)
	$(PIP) --require-hashes -r $(LOCK)
	$(PIP) --no-deps -e .
	@touch $@ $(VENV)/.installed

# Refresh both lock files after changing dependencies in pyproject.toml (keeps every pin that
# still fits); `make lock UPGRADE=1` moves every pin to the newest version allowed. Commit
# requirements/ with pyproject.toml.
lock: $(VENV)/.created
	@test -x $(BIN)/uv || $(PIP) uv
	UV=$(BIN)/uv bash scripts/lock.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
