# The two commands: `make book` (the main job) and `make test` (the whole test suite).
# Both create the virtual environment in $(VENV) when it is missing and install asdlib
# into it; nothing else needs to be installed by hand.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
ASD    := $(VENV)/bin/asd
STAMP  := $(VENV)/.asdlib-installed

# The book's run: empty DATA = the synthetic data set of the profile, generated once.
# `make book DATA=/data/dcase2022 DEVICE=cuda PROFILE=paper` is the same on real data on a GPU.
DATA    ?=
DEVICE  ?= auto
PROFILE ?= demo
# JOBS: runs executed at the same time. On CPU every chapter trains with one torch thread,
# so 2 keeps both cores of the book's machine busy; on one GPU, JOBS=1.
JOBS    ?= 2
RESUME  ?= --resume
RUNS    ?= runs
YEAR    ?= 2022
PRESET  ?= demo
SEED    ?= 0
# the folder `make book` uses for the same year, preset and seed (it carries the generator version)
GENVER  := $(shell sed -n 's/^GENERATOR_VERSION = \([0-9]*\).*/\1/p' asdlib/data/synth/dataset.py)
SYNTH   ?= data/synth-$(YEAR)-$(PRESET)-seed$(SEED)-v$(GENVER)

.PHONY: book check-book test test-portability install lab synth refresh-notebooks clean help gpu-check

help:
	@echo "make book   run every chapter (papermill), then build the book (Jupyter Book, -W)"
	@echo "make test   run the whole test suite"
	@echo "make test-portability  the learning tests under several CPU kernel sets and thread counts"
	@echo "make gpu-check  every chapter's paper settings on CUDA in bf16: updates/s, GPU memory and busy share, book time"
	@echo "make check-book  open the built book in headless Chromium, offline: math, figures, audio; screenshots"
	@echo "make lab    JupyterLab with Jupytext: open notebooks/*.md as notebooks (LAB_PORT=8888)"
	@echo "make refresh-notebooks  re-execute the ci copies of the chapters that nbval checks"
	@echo "make clean  remove generated data, caches and build outputs (keeps $(VENV))"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -e .
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# The tests of learning (marked `learning`) under every CPU kernel set this machine can run
# (ATen default / avx2 / avx512 with oneDNN and MKL matched) and 1 and 2 torch threads: a table.
test-portability: $(STAMP)
	$(PY) tests/portability.py

# Every chapter with papermill (completed runs are kept: RESUME= to redo them), then the
# results page and the executed chapters into book/_generated/, then Jupyter Book with -W.
book: $(STAMP)
	$(ASD) run notebooks/*.md --profile $(PROFILE) --device $(DEVICE) --jobs $(JOBS) --out $(RUNS) \
		$(if $(strip $(DATA)),--data-root $(DATA)) $(RESUME)
	$(ASD) results --runs $(RUNS) --profile $(PROFILE) --out book/_generated/results.md \
		--chapters book/_generated/chapters
	$(VENV)/bin/jupyter-book build . -W
	@echo "The book: $(CURDIR)/_build/html/index.html"

# Every chapter's paper settings for a few updates on CUDA in bf16 (asdlib/bench/gpu.py): updates per
# second, peak GPU memory, the GPU's busy share and the estimated training time of the paper book.
# Fails without CUDA; `asd bench gpu --device cpu --quick` runs the same code path on the CPU.
gpu-check: $(STAMP)
	$(ASD) bench gpu

synth: $(STAMP)
	$(ASD) synth --year $(YEAR) --preset $(PRESET) --seed $(SEED) --out $(SYNTH) --check

# Re-execute the committed ci-profile copies of the chapters (tests/notebooks/) after a
# chapter source changes; make test checks them with nbval.
refresh-notebooks: $(STAMP)
	$(ASD) refresh-notebooks

# The built book (make book) opened in headless Chromium with the network off: fails on raw TeX,
# a page without rendered math where its source has some, a missing figure or audio player, or
# any asset loaded from the network; prints a screenshot per page (asdlib/bookcheck.py).
# Needs Chromium (Debian: apt-get install chromium).
check-book: $(STAMP)
	$(PY) -m asdlib.bookcheck _build/html --source-root . --out _build/check-book

# JupyterLab on the chapter sources; Jupytext opens each notebooks/*.md as a notebook and saves
# it back. As root (a container) Jupyter needs --allow-root; the address to open is printed first.
LAB_PORT ?= 8888
LAB_IP   ?= 127.0.0.1
lab: $(STAMP)
	@$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install "jupyterlab>=4" "jupytext>=1.16"
	@token=$$($(PY) -c "import secrets; print(secrets.token_hex(16))"); \
	 root=$$([ "$$(id -u)" = 0 ] && echo --allow-root); \
	 echo "JupyterLab: open http://$(LAB_IP):$(LAB_PORT)/lab?token=$$token"; \
	 exec $(VENV)/bin/jupyter lab notebooks --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) \
	     --ServerApp.port_retries=0 --IdentityProvider.token=$$token $$root

clean:
	rm -rf data cache results runs _build book/_generated .pytest_cache
