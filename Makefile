# csrgate: `make install` sets up .venv, `make test` is what CI runs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The SAM CLI pins its own dependencies tightly, so it lives in a venv of its own inside .venv.
SAM_VENV := $(VENV)/sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
# The AWS CLI people run: `aws eks get-token` in the kubeconfigs csrgate delivers for EKS (its own venv: it pins botocore)
AWSCLI_VENV := $(VENV)/awscli
AWSCLI_VERSION := 1.46.3
AWS_REGION ?= us-east-1

export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install tools test lint typecheck unit sam bench mutation dev-cluster demo dev clean

help:
	@echo "make demo      the whole service on this machine: kubectl apply -> Slack -> kubectl auth whoami"
	@echo "make dev       run the whole service locally and leave it running (state in .dev-stack/)"
	@echo "make install   create $(VENV) with csrgate and its development tools"
	@echo "make test      lint, type-check, run the tests, validate and build the SAM template"
	@echo "make bench     run the benchmarks under bench/"
	@echo "make mutation  mutation-test csrgate.domain; fails below 90% killed in a module (docs/testing.md)"
	@echo "make dev-cluster  run the local Kubernetes API for CSRs (state in .dev-cluster/)"

install: $(VENV)/.installed $(SAM_VENV)/.installed $(AWSCLI_VENV)/.installed

$(VENV)/.installed: pyproject.toml layers/csrgate/pyproject.toml layers/deps/requirements.txt
	$(PYTHON) -c 'import sys; sys.exit("csrgate needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c layers/deps/requirements.txt -e 'layers/csrgate[forwarder]' -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

$(AWSCLI_VENV)/.installed:
	test -x $(AWSCLI_VENV)/bin/python || $(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet awscli==$(AWSCLI_VERSION)
	touch $@

# Go reads spec.request as Kubernetes does, and the tests compare csrgate with it (devstack/gocsr); the dev Slack page
# is tried in headless Chromium (tests/e2e/test_slack_page_in_browser.py). CI runs as root on Debian and installs
# what is missing here, with one apt-get update; elsewhere those tests skip with a hint (and fail under CI=true).
tools:
	@missing=""; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing:$$missing; the tests that need them will skip (apt-get install$$missing)"; \
	  fi; \
	fi

test: install tools lint typecheck unit sam

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest

# `sam build` runs the layers' Makefiles; they call `python3 -m pip`, which must be the project's venv.
sam:
	PATH="$(abspath $(BIN)):$$PATH" $(SAM) validate --lint --region $(AWS_REGION)
	PATH="$(abspath $(BIN)):$$PATH" $(SAM) build --region $(AWS_REGION)

bench: install
	$(BIN)/python bench/check_throughput.py
	$(BIN)/python bench/interactions_cold_start.py
	$(BIN)/python bench/forwarder_latency.py
	$(BIN)/python -m devstack.bench 50

# Minutes, not seconds, so not part of `make test`; docs/testing.md lists the survivors we keep and why.
mutation: install
	$(BIN)/python tools/mutation.py

demo: install
	$(BIN)/python -m devstack.demo

dev: install
	$(BIN)/csrgate dev up --data-dir .dev-stack

dev-cluster: install
	$(BIN)/csrgate dev cluster --data-dir .dev-cluster

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache .hypothesis .dev-cluster .dev-stack build layers/csrgate/build
