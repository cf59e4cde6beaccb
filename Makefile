# `make booklet` builds output/guide.pdf; `make test` runs the tests.
# Both set up .venv from pyproject.toml on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: booklet preview editions handouts copies bench check lint-sources test lint clean distclean

booklet: $(STAMP)
	$(BIN)/booklet build

# Rebuild on every save; the pages on http://127.0.0.1:8000/ (`make preview PORT=8001`).
preview: $(STAMP)
	$(BIN)/booklet preview $(if $(PORT),--port $(PORT)) $(if $(EDITION),--edition $(EDITION))

# Every edition in booklet.toml, to output/editions/.
editions: $(STAMP)
	$(BIN)/booklet build --all-editions

# Every clinic in clinics/ x every chapter marked `handout: true`.
handouts: $(STAMP)
	$(BIN)/booklet handouts

# Complimentary copies: `make copies REQUESTS=requests.csv [BATCH=name]`
copies: $(STAMP)
	@test -n "$(REQUESTS)" || { echo "usage: make copies REQUESTS=path/to/requests.csv"; exit 2; }
	$(BIN)/booklet copies "$(REQUESTS)" $(if $(BATCH),--batch "$(BATCH)")

# Our build against one WeasyPrint pass; writes output/bench.json (several minutes).
bench: $(STAMP)
	$(BIN)/python bench/bench.py

# Lint the sources, build if anything changed, preflight the PDF.
check: $(STAMP)
	$(BIN)/booklet check

# Source checks only (fast): `make lint-sources FILES=chapters/03-x.md`
lint-sources: $(STAMP)
	$(BIN)/booklet lint $(FILES)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "booklet needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

clean:
	rm -rf output .cache

distclean: clean
	rm -rf $(VENV)
