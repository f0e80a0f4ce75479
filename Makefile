# Two commands: `make demo` and `make test`. Each creates .venv when missing and
# (re)installs the project only when pyproject.toml or constraints.txt changed,
# so a second run starts in seconds.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench proto clean conformance smoke-container

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Renkei needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e '.[test]'
	@touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/renkei demo $(DEMO_ARGS)

test: $(VENV)/.installed-test
	sh deploy/install-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check broker mappings trust tests bench deploy
	$(BIN)/mypy --strict broker mappings trust

bench: $(VENV)/.installed-test
	for b in bench/[!_]*.py; do case $$b in *nanao_handwritten*) continue;; esac; \
	  $(BIN)/python $$b || exit 1; done

# The ETSI NGSI-LD test suite in ../shared/etsi, every part against a fresh node, next to
# Scorpio's published figures (takes a while; CONFORMANCE_ARGS="--parts Consumption/Entity").
conformance: $(VENV)/.installed-run
	$(BIN)/python deploy/conformance.py $(CONFORMANCE_ARGS)

# The image built without a registry and a federation run in containers (deploy/smoke.sh).
# Not part of `make test`: it needs root, a running Docker engine (Debian's docker.io:
# `dockerd --bridge=none --iptables=false`), debootstrap and PostgreSQL on 127.0.0.1.
smoke-container:
	nice -n 10 bash deploy/smoke.sh

# Regenerate broker/federation/_pb from proto/ (tests check the committed copy matches).
proto: $(VENV)/.installed-test
	$(BIN)/python -m broker.federation.protogen

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
