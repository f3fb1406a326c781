# Two commands for a fresh clone: `make run` and `make test`. Both build a local .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: run test lint docs setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# A CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[agents,bench,ray,test,docs]"
	touch $(STAMP)

setup: $(STAMP)

# The report is written even when some cells failed (it lists them); the exit code still says so.
run: $(STAMP)
	$(VENV)/bin/fgamcd-bench run all --quick --out results; status=$$?; \
	$(VENV)/bin/fgamcd-bench report --out results && exit $$status

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q

# The docs site (Sphinx + MyST); any warning is an error.
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache docs/_build

# ---- Interop: RLlib and TorchRL, each in its own venv (.venv-rllib, .venv-torchrl) -----------
# RLlib pins its own gymnasium and TorchRL its tensordict, so they stay out of .venv; the tests
# (interop/test_*.py) import the scripts in examples/. `make test-interop` builds what is missing.
.PHONY: test-interop test-interop-rllib test-interop-torchrl venv-rllib venv-torchrl clean-interop

.venv-%/.installed: pyproject.toml interop/requirements-%.txt
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	.venv-$*/bin/python -m pip install --quiet -e . -r interop/requirements-$*.txt
	touch $@

venv-rllib: .venv-rllib/.installed

venv-torchrl: .venv-torchrl/.installed

test-interop-rllib: .venv-rllib/.installed
	.venv-rllib/bin/python -m pytest -q interop/test_rllib.py

test-interop-torchrl: .venv-torchrl/.installed
	.venv-torchrl/bin/python -m pytest -q interop/test_torchrl.py

test-interop: test-interop-rllib test-interop-torchrl

clean-interop:
	rm -rf .venv-rllib .venv-torchrl
