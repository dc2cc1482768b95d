# Two commands do everything: `make demo` and `make test`. Both create .venv once and reinstall
# only when pyproject.toml changes (the stamp file), so re-running them is fast.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
# torch first and pinned: on this machine's image the CPU wheel of 2.13.0 lies on disk; an unpinned
# torch (or installing lightning first) pulls a multi-GB CUDA build. Override for a GPU machine,
# e.g. `make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" demo`.
TORCH_SPEC ?= torch==2.13.0
export NMM_SHARED_DATA ?= $(abspath ../shared/data)
PYTEST_ARGS ?= -q

.PHONY: venv demo test bench lint clean slurm-up slurm-down

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nmm-demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run_all
	$(PY) -m benchmarks.doc_figures

# A single-node SLURM cluster on this machine (root; Debian's packages): docs/slurm.md
slurm-up:
	.ci/slurm/up.sh

slurm-down:
	.ci/slurm/down.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
