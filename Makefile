# The commands of the README: `make run` (set up + the whole pipeline), `make test`, and
# `make test-pythons` (the fast suite on every claimed Python version). Each builds the
# project's virtual environment from requirements.lock first, so each works alone on a fresh
# machine; `make lock` refreshes the lock after a change to pyproject.toml's dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
LOCK := requirements.lock
# Stage commands call `python`, `dvc` and `mlflow`: they must resolve inside the venv.
export PATH := $(BIN):$(PATH)

.PHONY: install lock run test test-pythons lint clean-venv

install: $(VENV)/.installed

# uv, at the lock's own pin, installs everything else: it is the tool that wrote the lock.
# --compile-bytecode writes every package's .pyc at install: where PYTHONDONTWRITEBYTECODE is
# set (as on CI machines) Python would otherwise compile MLflow, pandas, scikit-learn and
# TensorFlow from source in every stage process, seconds each time.
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep '^uv==' $(LOCK))"

$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# Every package pinned, for every claimed Python version (--universal: one file, with markers
# where a version differs). Pins already in the lock stay unless pyproject.toml needs others;
# `make lock LOCK_FLAGS=--upgrade` moves every package to its newest allowed version.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--quiet $(LOCK_FLAGS) -o $(LOCK)

run: install
	dvc repro
	imdb-sentiment promote
	dvc metrics show --precision 3
	@echo "Runs are in MLflow: $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: install
	pytest

# The fast suite (-m "not slow") on each version pyproject.toml claims, each in its own
# environment from the lock (noxfile.py). NOX_ARGS="--python 3.12" picks versions.
test-pythons: install
	nox --session tests $(NOX_ARGS)

lint: install
	ruff check src stages tests bench noxfile.py
	ruff format --check src stages tests bench noxfile.py

clean-venv:
	rm -rf $(VENV) .nox
