# make test: set up .venv (if missing or stale) and run the test suite.
# make demo: set up, generate the synthetic world, train P-Seg on the CPU and evaluate it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pseg_installed

.PHONY: setup test test-fast demo demo-long

setup: $(STAMP)

$(STAMP): requirements.txt setup.py scripts/install_env.sh
	VENV=$(VENV) bash scripts/install_env.sh
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

demo: $(STAMP)
	$(PY) tools/run_demo.py --config-file configs/synthetic/pseg_regnet_synthetic.yaml --output output/demo

demo-long: $(STAMP)
	$(PY) tools/run_demo.py --config-file configs/synthetic/pseg_regnet_synthetic_long.yaml --output output/demo_long
