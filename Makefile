# The two commands: `make book` (the main job) and `make test` (the whole test suite).
# Both create the virtual environment in $(VENV) when it is missing and install asdlib
# into it; nothing else needs to be installed by hand.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
ASD    := $(VENV)/bin/asd
STAMP  := $(VENV)/.asdlib-installed

# Where the book's data comes from: empty = the synthetic demo data set, generated once.
DATA    ?=
YEAR    ?= 2022
PRESET  ?= demo
SEED    ?= 0
SYNTH   ?= data/synth-$(YEAR)-$(PRESET)-seed$(SEED)
DEVICE  ?= auto
PROFILE ?= demo

.PHONY: book test install lab synth refresh-notebooks clean help

help:
	@echo "make book   build the main job (now: generate + summarise the synthetic demo data set)"
	@echo "make test   run the whole test suite"
	@echo "make lab    JupyterLab with Jupytext: open notebooks/*.md as notebooks"
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

book: $(STAMP)
ifeq ($(strip $(DATA)),)
	$(ASD) synth --year $(YEAR) --preset $(PRESET) --seed $(SEED) --out $(SYNTH)
	$(ASD) summary $(SYNTH)
else
	$(ASD) summary $(DATA)
endif

synth: $(STAMP)
	$(ASD) synth --year $(YEAR) --preset $(PRESET) --seed $(SEED) --out $(SYNTH) --check

# Re-execute the committed ci-profile copies of the chapters (tests/notebooks/) after a
# chapter source changes; make test checks them with nbval.
refresh-notebooks: $(STAMP)
	$(ASD) refresh-notebooks

lab: $(STAMP)
	@$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install "jupyterlab>=4" "jupytext>=1.16"
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf data cache results runs _build .pytest_cache
