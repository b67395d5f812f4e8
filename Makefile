# forecast_assets: `make run` (the whole graph on the embedded default) and `make test` (the suite,
# real Spark and a real MinIO). Both set up what they need first and are safe to run again.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# An exported DAGSTER_HOME is honoured (its dagster.yaml, when it has one, is left as it is); else the project's.
OWN_DAGSTER_HOME := $(CURDIR)/.dagster_home
export DAGSTER_HOME ?= $(OWN_DAGSTER_HOME)
export FORECAST_CACHE ?= $(HOME)/.cache/forecast_assets
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONWARNINGS ?= ignore::DeprecationWarning,ignore::UserWarning

# Spark's S3A jars, fetched into the cache only when MinIO storage is selected.
S3A_JARS = $$( [ "$${FORECAST_STORAGE:-local}" = minio ] && PYTHON=$(PY) scripts/fetch-s3a-jars.sh )

.PHONY: help setup run dev test test-fast smoke minio lint bench bench-peer clean

help:
	@echo "make run    set up, then materialize the whole graph on the embedded default and print a summary"
	@echo "            make run DATA=path/to/sales.csv (files or folders): your own sales instead of the demo"
	@echo "            (COLUMNS=produto=sku,... LOCALE=pt_BR DATE_FORMAT=%d/%m/%Y SHEET=name FRESH=1)"
	@echo "make dev    the Dagster UI (and daemon) on the same DAGSTER_HOME"
	@echo "make test   set up, then run the whole test suite (real Spark, real MinIO)"
	@echo "make test-fast  the unit tier only: no JVM, no MinIO (under a minute)"
	@echo "make smoke  docker-compose.yml's topology natively: Postgres, MinIO, Spark standalone, Dagster"
	@echo "make minio  a local MinIO server for trying the MinIO storage by hand"
	@echo "make lint   ruff"
	@echo "make bench  benchmarks that print figures (retail and marketplace M, ingestion against history); make bench-peer: against the original code and the peer libraries (REAL=folder: real data sets too)"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(OWN_DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(OWN_DAGSTER_HOME)
	cp dagster.yaml $@

ifneq ($(DAGSTER_HOME),$(OWN_DAGSTER_HOME))
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p "$(DAGSTER_HOME)"
	cp -n dagster.yaml "$@"
endif

setup: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml

# `make run DATA=path/to/sales.csv` (files or folders, CSV, Parquet or Excel): your sales instead of the demo,
# added to the weeks stored before (FRESH=1: a new history). COLUMNS="produto=sku,...", LOCALE=pt_BR,
# DATE_FORMAT=%d/%m/%Y, SHEET=Vendas: how to read files that do not say it themselves.
# `make run PROFILE=small`: one or two grid points per model, a quick demo (full: the original design's grids).
PROFILE ?= full
run: setup
# DATA on the command line, even empty (an error, not the demo), or a non-empty DATA in the environment
ifneq ($(filter command line,$(origin DATA))$(DATA),)
	FORECAST_PROFILE=$(PROFILE) FORECAST_S3A_JARS="$(S3A_JARS)" $(PY) -m forecast_assets.cli run-data $(DATA) \
		--columns "$(COLUMNS)" --locale "$(LOCALE)" --date-format "$(DATE_FORMAT)" --sheet "$(SHEET)" \
		$(if $(filter 1 yes true,$(FRESH)),--fresh)
else
	FORECAST_S3A_JARS="$(S3A_JARS)" $(VENV)/bin/dagster job execute -m forecast_assets -j ml_pipeline \
		-c <(FORECAST_PROFILE=$(PROFILE) $(PY) -m forecast_assets.cli run-config) \
		--tags "$$($(PY) -m forecast_assets.cli demo-range-tags)"
	@echo
	@FORECAST_S3A_JARS="$(S3A_JARS)" $(PY) -m forecast_assets.cli summary
endif

# scripts/dev.sh stops the whole of `dagster dev` (runs in flight included) on Ctrl-C and on SIGTERM.
# DEV_ARGS: more `dagster dev` options, e.g. DEV_ARGS="-h 127.0.0.1 -p 3001".
dev: setup
	FORECAST_S3A_JARS="$(S3A_JARS)" DAGSTER=$(VENV)/bin/dagster exec scripts/dev.sh -w workspace.yaml $(DEV_ARGS)

test: setup
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/dg check defs  # the code location loads, as Dagster loads it
	MINIO_BIN="$$(scripts/build-minio.sh)" \
	MLFLOW_BIN="$$(scripts/build-mlflow-server.sh)" \
	CHROMIUM_BIN="$$(scripts/install-chromium.sh)" \
	FORECAST_S3A_JARS="$$(PYTHON=$(PY) scripts/fetch-s3a-jars.sh)" \
	$(VENV)/bin/pytest

# The unit tier (pytest -m unit): validation, settings, drift statistics, metrics, sensors' logic, storage CAS on a
# folder; no JVM, no MinIO. Other tiers: -m spark, -m minio, -m daemon, -m browser (forecast_assets_tests/conftest.py).
test-fast: setup
	$(VENV)/bin/pytest -m unit -q

# The production topology without Docker: PostgreSQL (Debian's package, installed when missing), MinIO,
# a Spark standalone master and worker, the user-code gRPC server, dagster-webserver and dagster-daemon.
smoke: setup
	MINIO_BIN="$$(scripts/build-minio.sh)" \
	FORECAST_S3A_JARS="$$(PYTHON=$(PY) scripts/fetch-s3a-jars.sh)" \
	$(PY) -m deploy.smoke

minio: setup
	scripts/minio-server.sh

lint: setup
	$(VENV)/bin/ruff check forecast_assets forecast_assets_tests devtools bench deploy
	$(VENV)/bin/ruff format --check forecast_assets forecast_assets_tests devtools bench deploy

clean:  # the project's own instance only: never an exported DAGSTER_HOME
	rm -rf warehouse $(OWN_DAGSTER_HOME)

bench: setup
	$(PY) bench/run_bench.py --sizes M --profiles retail marketplace
	$(PY) bench/ingestion_bench.py

# REAL=folder: also the public real data sets found there, as downloaded (bench/README.md, bench/real_data.py).
bench-peer: setup
	$(PY) bench/run_bench.py --peer $(if $(REAL),--real "$(REAL)")
