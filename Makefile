# The two commands of the README: `make run` (set up + the whole pipeline) and `make test`.
# Both build the project's virtual environment first, so each works alone on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands call `python`, `dvc` and `mlflow`: they must resolve inside the venv.
export PATH := $(BIN):$(PATH)

.PHONY: install run test lint clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: install
	dvc repro
	imdb-sentiment promote
	dvc metrics show
	@echo "Runs are in MLflow: $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: install
	pytest

lint: install
	ruff check src stages tests bench
	ruff format --check src stages tests bench

clean-venv:
	rm -rf $(VENV)
