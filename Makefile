# make test: set up .venv (if missing or stale) and run the test suite.
# make demo: set up, generate the synthetic world, train P-Seg on the CPU and evaluate it.
# make demo-plus: after make demo, self-train P-Seg+ on that P-Seg's pseudo labels and compare both.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pseg_installed

.PHONY: setup test test-fast demo demo-plus

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

# P-Seg+: self-train a small UperNet + ViT on the pseudo labels that `make demo`'s P-Seg gives synthetic train images.
demo-plus: $(STAMP)
	@test -f output/demo/model_final.pth || { echo "output/demo/model_final.pth not found: run 'make demo' first (P-Seg+ trains on that model's predictions)"; exit 1; }
	$(PY) tools/run_demo_plus.py --demo output/demo --output output/demo_plus
