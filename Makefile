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
# checkov, the scanner security teams run on templates, pins many packages of its own: a venv of its own too
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_VERSION := 3.3.30
AWS_REGION ?= us-east-1

export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install tools test lint typecheck unit sam checkov bench mutation dev-cluster demo dev clean

help:
	@echo "make demo      the whole service on this machine: kubectl apply -> Slack -> kubectl auth whoami"
	@echo "make dev       run the whole service locally and leave it running (state in .dev-stack/)"
	@echo "make install   create $(VENV) with csrgate and its development tools"
	@echo "make test      lint, type-check, run the tests, validate, build and scan (checkov) the SAM template"
	@echo "make bench     run the benchmarks under bench/"
	@echo "make mutation  mutation-test csrgate.domain; fails below 90% killed in a module (docs/testing.md)"
	@echo "make dev-cluster  run the local Kubernetes API for CSRs (state in .dev-cluster/)"

install: $(VENV)/.installed $(SAM_VENV)/.installed $(AWSCLI_VENV)/.installed $(CHECKOV_VENV)/.installed

# Every part of csrgate, at the versions the Lambda layer and the forwarder image lock. pip reads hashes in a
# constraints file as a demand to hash-check every requirement, which the editable installs cannot meet, so the
# constraints are the locks' name==version lines alone (the hashes are checked where those files ship).
$(VENV)/.installed: pyproject.toml layers/csrgate/pyproject.toml layers/deps/requirements.txt forwarder/requirements.txt
	$(PYTHON) -c 'import sys; sys.exit("csrgate needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	grep -hoE '^[A-Za-z0-9][A-Za-z0-9._-]*==[^ ;\\]+' layers/deps/requirements.txt forwarder/requirements.txt \
		| sort -u > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e 'layers/csrgate[lambda,forwarder]' -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

$(AWSCLI_VENV)/.installed:
	test -x $(AWSCLI_VENV)/bin/python || $(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet awscli==$(AWSCLI_VERSION)
	touch $@

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
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

test: install tools lint typecheck unit sam checkov

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest

# `sam build` runs the layers' Makefiles; they call `python3 -m pip`, which must be the project's venv.
# `validate` alone runs the SAM transform as CloudFormation will; `--lint` runs cfn-lint, which does not transform.
sam:
	PATH="$(abspath $(BIN)):$$PATH" $(SAM) validate --region $(AWS_REGION)
	PATH="$(abspath $(BIN)):$$PATH" $(SAM) validate --lint --region $(AWS_REGION)
	PATH="$(abspath $(BIN)):$$PATH" $(SAM) build --region $(AWS_REGION)

# Every check it skips is skipped in the resource's Metadata, with the reason; --skip-download: no network needed.
checkov:
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

bench: install
	$(BIN)/python bench/check_throughput.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/forwarder_latency.py
	$(BIN)/python -m devstack.bench 50
	$(BIN)/python bench/burst.py

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
