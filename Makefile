# Two commands do all the set-up on a fresh machine (see README.md):
#   make report   run the notebooks top to bottom, refresh assets/, build the site
#   make test     unit tests + the notebooks' regression check (exact nbval on the reference
#                 platform, measured tolerances elsewhere: see src/vaelab/check.py)
# Both create and reuse .venv, install the pinned requirements and the package, and fetch the data.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Notebooks that also run on MNIST for the report (papermill, `-p dataset mnist`), into build/.
MNIST_NOTEBOOKS := $(NOTEBOOKS)

# One numeric environment for the reference runs (make report) and their check (make test):
# two threads and the CPU, whatever the machine has (`make test VAELAB_DEVICE=cuda` overrides it,
# and then the tolerance tier runs), and the reference CPU kernels: AVX2 on x86-64, ATen's own
# choice on Intel CPUs, MKL's and oneDNN's AVX-512 branches on Intel CPUs that have AVX-512
# (src/vaelab/workshop/numeric.py, run as a script, prints them; a value set
# in the environment is kept). Importing vaelab sets nothing: `make lab` starts Jupyter in this
# environment, so a notebook opened there computes the reference numbers too.
NUMERIC_ENV := $(shell $(PYTHON) src/vaelab/workshop/numeric.py)
$(foreach setting,$(NUMERIC_ENV),$(eval export $(setting)))
export OMP_NUM_THREADS := 2
export MKL_NUM_THREADS := 2
export VAELAB_DEVICE := cpu
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# Runs a notebook as `jupyter nbconvert --execute --inplace` does (papermill's `-p` for MNIST) and
# records how long it takes from scratch and with the trained runs cached (assets/notebook_times.json);
# `$(TIMING) write` puts those times into the notebooks and the README (src/vaelab/workshop/timing.py).
TIMING := $(PY) -m vaelab.workshop.timing
PYTEST_DURATIONS := --durations=15  # the slowest tests and cells: where the time goes
PYTEST_NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_DURATIONS)
CHECK_DIR := build/check

.PHONY: help setup data lab lint check assignment test unit nbval check-tolerance check-planted report notebooks notebooks-mnist docs serve browser colab test-times-readme bench-speed bench-quality bench-spread bench-spread-rows bench-priors bench-search clean

help:
	@echo "make report   run every notebook top to bottom, refresh assets/ (and build the site)"
	@echo "make test     unit tests + the notebooks' regression check (exact or tolerance tier) + the site in a browser"
	@echo "make bench-speed (about 2 min) | bench-quality (about 40 min) | bench-search (about 70 min): the benchmarks, on an idle machine"
	@echo "make docs     build the report site into site/ (make serve: on http://127.0.0.1:8000)"
	@echo "make lab      Jupyter Lab in the reference numeric environment (the numbers make report computes)"
	@echo "make check    the assignment's checks, one line per exercise (N=3: only exercise 3)"
	@echo "make assignment  the student edition, with the exercises as stubs, into build/assignment/"
	@echo "make setup | data | lint | unit | nbval | check-tolerance | notebooks | browser | colab | clean"

# The packages go in with uv (pinned below; the same versions pip would install, from the same index):
# on a fresh clone it takes half a minute where pip took over two, most of it torch and its CUDA
# libraries (uv keeps them unpacked in its cache and links them in), and a current pip for the tools
# that call pip (the Colab install cell's test). Where uv cannot be installed, pip does the same work.
UV_VERSION := 0.13.9
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" \
	  && $(BIN)/uv pip install --quiet --python $(PY) --upgrade pip -r requirements.txt \
	  && $(BIN)/uv pip install --quiet --python $(PY) --no-deps -e .; then :; \
	else echo "note: uv could not install the packages here; pip installs them (slower)"; \
	  $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -r requirements.txt \
	  && $(PY) -m pip install --quiet --no-deps -e .; fi
	touch $@

setup: $(VENV)/.installed

# Fashion-MNIST is required: a local copy, the mirror(s), the Debian package, a download, or as a
# last resort (root on Debian/Ubuntu) installing dataset-fashion-mnist. MNIST is optional.
data: setup
	$(PY) -m vaelab data fetch --dataset fashion-mnist --allow-apt
	@$(PY) -m vaelab data fetch --dataset mnist \
	  || echo "note: no MNIST copy; MNIST tests are skipped and the MNIST notebooks are not run"

# The regression check has two tiers (python -m vaelab check tier says which applies, in one line):
# exact on the reference platform (x86-64 with AVX2, pinned torch, 2 threads, cpu): nbval compares
# every output of every notebook; anywhere else: check-tolerance. VAELAB_CHECK=exact|tolerance forces one.
# Jupyter Lab on the notebooks, in the environment make report runs them in (threads, CPU kernels, the CPU).
lab: data
	$(BIN)/jupyter lab notebooks/

# The linter: ruff, with the rules kept in pyproject.toml ([tool.ruff]).
lint: setup
	$(BIN)/ruff check src tests $(wildcard benchmarks) docs/hooks.py conftest.py

# The assignment's checks (src/vaelab/workshop/exercises.py): one line per exercise, then "N passed, N failed";
# `make check N=3` checks exercise 3 only. They need no data and take seconds.
check: setup
	$(PY) -m vaelab.workshop.exercises $(N)

# The student edition (src/vaelab/workshop/assignment.py): the exercises as stubs, into build/assignment/.
assignment: setup
	$(PY) -m vaelab.workshop.assignment build/assignment

# One after the other: the unit tests, then the notebooks' check. (Running the unit tests beside the
# notebooks, even at idle priority, made the notebooks' training several times slower: measured,
# see the README's "How long".) Every test's time goes to build/test-times/ (conftest.py), and make
# test ends with a table of where its time went (src/vaelab/workshop/test_times.py).
MAKE_START := $(shell date +%s)
test: lint check data docs browser
	@tier="$$($(PY) -m vaelab check tier)"; status=$$?; echo "regression check: $$tier"; \
	if [ $$status != 0 ] && [ $$status != 3 ]; then exit $$status; fi; \
	rm -rf build/test-times; mkdir -p build/test-times; echo "$(MAKE_START) $$(date +%s)" > build/test-times/setup.txt; \
	if [ $$status = 0 ]; then VAELAB_TEST_TIMES=unit $(PY) -m pytest tests $(PYTEST_DURATIONS) \
	    && $(PY) -m pytest notebooks $(PYTEST_NBVAL); \
	else VAELAB_TEST_TIMES=unit $(PY) -m pytest tests $(PYTEST_DURATIONS) && $(MAKE) --no-print-directory check-tolerance; fi; \
	result=$$?; echo "$$(date +%s)" > build/test-times/finished.txt; $(PY) -m vaelab.workshop.test_times; exit $$result

# The table of where make test's time went (from the last make test, build/test-times/) into README.md.
test-times-readme: setup
	$(PY) -m vaelab.workshop.test_times --readme

unit: data
	$(PY) -m pytest tests

nbval: data
	@tier="$$($(PY) -m vaelab check tier)"; status=$$?; echo "regression check: $$tier"; \
	if [ $$status = 0 ]; then $(PY) -m pytest notebooks $(PYTEST_NBVAL); \
	elif [ $$status = 3 ]; then $(MAKE) --no-print-directory check-tolerance; else exit $$status; fi

# The tolerance tier: every notebook (or those named: make check-tolerance NOTEBOOKS="notebooks/05_latent_space.ipynb")
# runs top to bottom into build/check/ (its figures and tables into build/check/assets/, the
# committed ones untouched); then every number of every code cell is compared with the committed
# notebook's within its measured tolerance (tests/notebook_numbers_check.py, vaelab.workshop.numbers),
# and notebook 07's metrics with assets/metrics.json (src/vaelab/workshop/check.py).
check-tolerance: data
	@rm -rf $(CHECK_DIR) build/test-times/tolerance.txt && mkdir -p $(CHECK_DIR)/assets
	@for nb in $(NOTEBOOKS); do echo "== $$nb (tolerance check)"; start=$$(date +%s); \
	  VAELAB_ASSETS_DIR=$(CURDIR)/$(CHECK_DIR)/assets papermill --log-level WARNING --cwd notebooks \
	    $$nb $(CHECK_DIR)/$$(basename $$nb) || exit 1; echo "   $$nb: $$(( $$(date +%s) - start )) s"; \
	  mkdir -p build/test-times; echo "$$(basename $$nb .ipynb) $$start $$(date +%s)" >> build/test-times/tolerance.txt; done
	$(PY) -m pytest tests/notebook_numbers_check.py -p no:cacheprovider -q -rN
	@if [ -f $(CHECK_DIR)/assets/metrics.json ]; then $(PY) -m vaelab check numbers $(CHECK_DIR)/assets/metrics.json; fi

# The tolerance tier can fail: for each notebook checked (NOTEBOOKS="…" as above), a planted bug that
# changes only its output must fail the comparison that its run without the bug passed (tests/planted_bugs_check.py).
# Each plant reruns its notebook: about as long again as check-tolerance with runs/ cached.
check-planted: check-tolerance
	$(PY) -m pytest tests/planted_bugs_check.py -p no:cacheprovider -q -rA

# Only make report writes the report's figures and tables (assets/): a notebook run anywhere else
# (Jupyter, make test, papermill with other parameters) writes them to build/scratch/assets/.
REPORT_ASSETS := VAELAB_ASSETS_DIR=$(CURDIR)/assets

notebooks: data
	@for nb in $(NOTEBOOKS); do echo "== $$nb"; start=$$(date +%s); $(REPORT_ASSETS) $(TIMING) run $$nb || exit 1; \
	  echo "   $$nb: $$(( $$(date +%s) - start )) s"; done
	$(PY) -m vaelab check record  # the CPU that made these outputs: where the exact tier applies

notebooks-mnist: data
	@if $(PY) -m vaelab data verify --dataset mnist > /dev/null 2>&1; then \
	  mkdir -p build/notebooks; \
	  for nb in $(MNIST_NOTEBOOKS); do \
	    echo "== $$nb on MNIST"; \
	    start=$$(date +%s); \
	    $(REPORT_ASSETS) $(TIMING) run $$nb --output build/notebooks/$$(basename $$nb .ipynb)-mnist.ipynb -p dataset mnist || exit 1; \
	    echo "   $$nb on MNIST: $$(( $$(date +%s) - start )) s"; \
	  done; \
	else echo "note: no MNIST copy; MNIST notebooks skipped"; fi

report: notebooks notebooks-mnist
	$(TIMING) write  # the measured times into the notebooks' headings and the README
	$(MAKE) --no-print-directory docs

# The report site: MathJax from npm (pinned in package.json and package-lock.json), figures and
# tables from assets/ (docs/hooks.py), a strict build into site/.
export NO_MKDOCS_2_WARNING := 1
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

docs: setup node_modules/.installed
	$(BIN)/mkdocs build --strict --quiet
	@echo "site/ built: make serve to look at it"

serve: docs
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# Headless Chromium for the browser test (Debian's package; installed when root and missing).
# Without one the browser test is skipped with this reason; CI (.ci/run sets
# VAELAB_REQUIRE_BROWSER=1) fails instead.
browser:
	@command -v chromium > /dev/null || [ -n "$$VAELAB_CHROMIUM" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "installing Debian's chromium for the browser test (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; \
	  else echo "note: no Chromium, so the browser test is skipped (install chromium, or set VAELAB_CHROMIUM to a Chromium or Chrome)"; fi; }

# The Colab badges and install cells, from the repository's address in pyproject.toml.
colab: setup
	$(PY) -m vaelab.workshop.colab

# The speed benchmark times the command line as a user types it, outside this Makefile's
# environment (it starts its own processes); the quality benchmark and the seed spread (the
# tolerance tier's measurements) run in the notebooks' environment.
bench-speed: data
	$(PY) benchmarks/train_speed.py

bench-quality: data
	$(PY) benchmarks/quality.py

SEEDS ?= 1 2
bench-spread: data  # every notebook again with each of SEEDS: each number's spread (benchmarks/results/, committed)
	$(PY) benchmarks/notebook_spread.py --seeds $(SEEDS)

bench-spread-rows: data  # notebook 07's rows over seeds 0-4 (the tolerances of vaelab.workshop.check)
	$(PY) benchmarks/seed_spread.py

bench-priors: data  # notebook 04's prior comparison over training seeds (benchmarks/results/, committed)
	$(PY) benchmarks/prior_seeds.py

bench-search: data  # the candidates behind runs.best_config (learned priors, two layers)
	$(PY) benchmarks/prior_search.py

clean:
	rm -rf build site .pytest_cache
