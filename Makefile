# DropMap: `make run` serves the site on http://localhost:8501; `make test` runs the suite;
# `make cluster REPLICAS=3` serves replicas on a shared store behind nginx (docs/SCALING.md).
# All create .venv from the pinned requirements and fetch Leaflet from the npm registry
# on first use; nothing is downloaded at run time.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
REPLICAS ?= 3
# `make cluster CLUSTER_BIN=/path/to/.venv/bin` runs the cluster with that environment as it is, without
# set-up (e.g. from a git worktree of a checkout whose .venv is ready).
CLUSTER_BIN ?=
# DROPMAP_DB in the environment (as every other command reads it) wins over the default.
DB ?= $(or $(DROPMAP_DB),data/dropmap.duckdb)
LEAFLET_VERSION := 1.9.4
LEAFLET := static/vendor/leaflet/leaflet.js

.PHONY: run cluster test test-shared setup lint bench clean demo

run: setup $(DB)
	DROPMAP_DB=$(DB) $(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

# PostgreSQL, the demo city in the shared store (first use), REPLICAS replicas on PORT+1..., nginx on PORT.
cluster: $(if $(CLUSTER_BIN),$(LEAFLET),setup)
	$(or $(CLUSTER_BIN),$(BIN))/python -m cluster --replicas $(REPLICAS) --port $(PORT)

test: setup
	$(BIN)/python -m pytest

# The suite with every test that takes the `con` fixture on a shared store (DuckLake, its catalog in a
# private PostgreSQL the tests start and stop: Debian's postgresql package) instead of a file.
test-shared: setup
	DROPMAP_TEST_STORE=shared $(BIN)/python -m pytest

setup: $(VENV)/.installed $(LEAFLET)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Leaflet is served by the site itself (no CDN); taken from the npm registry at set-up.
$(LEAFLET):
	rm -rf .cache/leaflet && mkdir -p .cache/leaflet static/vendor/leaflet
	cd .cache/leaflet && npm pack --silent leaflet@$(LEAFLET_VERSION) >/dev/null
	tar -xzf .cache/leaflet/leaflet-$(LEAFLET_VERSION).tgz -C .cache/leaflet
	cp -r .cache/leaflet/package/dist/. static/vendor/leaflet/
	cp .cache/leaflet/package/LICENSE static/vendor/leaflet/LICENSE

$(DB): | $(VENV)/.installed
	$(BIN)/python -m ingest demo --db $(DB)

demo: setup
	rm -f $(DB) $(DB).wal
	$(BIN)/python -m ingest demo --db $(DB)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .cache static/vendor
