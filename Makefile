# Two commands for a fresh machine with Python 3.11:
#   make reproduce   regenerate every figure, results file and the ledger (quick profile, embedded data)
#   make test        run the test suite, which executes every notebook in the smoke profile
#   make zoo         retrain what is missing or stale in the model zoo (checkpoints/), resumable
# Both create or update the virtual environment in .venv first. `make lab` opens JupyterLab on notebooks/.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv reproduce test nbval lab clean-runs zoo

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

reproduce: $(STAMP)
	$(PY) -m companion run --profile quick --device auto
	$(PY) -m companion ledger

zoo: $(STAMP)
	$(PY) -m companion zoo build
	$(PY) -m companion zoo list

test: $(STAMP)
	$(PY) -m pytest -q

nbval: $(STAMP)
	$(PY) -c "from companion.runner import checked_copies; checked_copies('runs/nbval')"
	COMPANION_PROFILE=smoke $(PY) -m pytest --nbval-lax -p no:cacheprovider runs/nbval/

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
