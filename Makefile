# The two README commands: `make run` and `make test`. Each creates .venv when missing.
# Tests run torch with one thread: on 2 shared cores two threads per process ran 5-20x slower.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_AUTH_MODE ?= disabled

.PHONY: run test lint install clean mutation docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,tensorboard,mlflow,dashboard]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/evo run configs/quick.yaml

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

# On demand, not in CI: mutation score of the core ([tool.mutmut] in pyproject.toml).
mutation: $(STAMP)
	OMP_NUM_THREADS=1 PYTHONPATH=$(CURDIR) $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

# ruff, and the import layers of [tool.importlinter] in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The configuration reference, generated from the pydantic schema (a test compares the two).
docs: $(STAMP)
	$(BIN)/python -m evo.config.reference > docs/configuration.md

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
