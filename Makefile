# The two commands a newcomer needs are `make run` and `make test`; everything else is for developers.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_FLAGS ?=

.PHONY: install run test test-fast lint bench dist smoke clean lock

install: $(STAMP)

# The environment comes from the hash-pinned lock only; re-running is a no-op until the lock changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: install
	$(BIN)/craton up $(ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

lint: install
	$(BIN)/ruff check appliance tui tests bench packaging
	$(BIN)/ruff format --check appliance tui tests bench packaging
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench $(ARGS)

dist: install
	$(BIN)/python packaging/build.py

smoke: dist
	$(BIN)/python -m pytest -p no:cacheprovider packaging/smoke_test.py

# Regenerate the lock after editing pyproject.toml (needs uv on the developer's machine, not at run time).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock

clean:
	rm -rf build dist .mypy_cache .pytest_cache .ruff_cache
