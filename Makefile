# Two commands for a fresh machine with Python 3.11:
#   make reproduce   regenerate every figure, results file and the ledger (quick profile, embedded data); the
#                    only command that writes the committed figures/ (a plain `companion run` or a notebook
#                    in JupyterLab writes runs/<profile>/figures/)
#   make test        run the test suite, which executes every notebook in the smoke profile
#   make zoo         retrain what is missing or stale in the model zoo (checkpoints/), resumable
# Both create or update the virtual environment in .venv first, with the project's Jupyter kernel ('companion',
# installed into .venv/share/jupyter, nothing in your home; `make kernel` reinstalls it). Each checkout has its
# own .venv: make refuses an environment another clone installed.
#   make lab         JupyterLab on notebooks/ (as root too: --allow-root is added when you are uid 0)
#   make book        the static book of every committed figure, in runs/book/ (open runs/book/index.html)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv reproduce test nbval lab kernel book clean-runs zoo

# One environment per checkout: pip would re-point an environment that another clone installed (a .venv linked
# from a first clone, or VENV=../first/.venv) at this one, so that is refused before pip runs.
OWNER_CHECK = import importlib.metadata as m, json, pathlib, sys, urllib.parse as u; \
	here = pathlib.Path.cwd().resolve(); \
	urls = [json.loads(d.read_text("direct_url.json") or "{}").get("url", "") for d in m.distributions(name="companion")]; \
	other = [p for p in (pathlib.Path(u.unquote(u.urlparse(x).path)).resolve() for x in urls if x.startswith("file:")) if p != here]; \
	sys.exit(f"error: $(VENV) is the environment of the checkout {other[0]}; each checkout keeps its own: run make here without VENV=, and with no .venv linked from another clone" if other else 0)

venv: $(STAMP)

# companion/kernel.py writes the kernelspec: a change there reinstalls the kernel too.
$(STAMP): pyproject.toml companion/kernel.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -I -c '$(OWNER_CHECK)'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m companion.kernel install
	@touch $(STAMP)

kernel: $(STAMP)
	$(PY) -m companion.kernel install

reproduce: $(STAMP)
	$(PY) -m companion run --profile quick --device auto --figures-dir figures
	$(PY) -m companion ledger

zoo: $(STAMP)
	$(PY) -m companion zoo build
	$(PY) -m companion zoo list

test: $(STAMP)
	$(PY) -m pytest -q

nbval: $(STAMP)
	$(PY) -c "from companion.runner import checked_copies; checked_copies('runs/nbval')"
	COMPANION_PROFILE=smoke $(PY) -m pytest --nbval-lax -p no:cacheprovider runs/nbval/

# JupyterLab refuses to run as root unless told; LAB_ARGS passes more options (e.g. LAB_ARGS='--port 8890').
LAB_ARGS ?=
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/

book: $(STAMP)
	$(PY) -m companion.book

clean-runs:
	rm -rf runs/
