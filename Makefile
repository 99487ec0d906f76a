# Everything a fresh machine needs: `make run` and `make test` create .venv and install
# into it (pinned by constraints.txt) on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck imports pytest crds shapes bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "ecs-gitops needs Python >= 3.11 (found $(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,local]'
	@touch $@

install: $(STAMP)

# `make run`: the walkthrough's deploy repository is a Git repository of its own, seeded
# once from examples/quickstart (never this checkout's files), which you edit and commit.
DEPLOY_REPO ?= deploy-repo
HTTP_ADDR ?= 127.0.0.1:8080

run: $(STAMP)
	$(BIN)/ecs-gitops validate examples/
	@tools/seed-deploy-repo $(DEPLOY_REPO) examples/quickstart
	$(BIN)/ecs-gitops run --local --source $(DEPLOY_REPO) --http-addr $(HTTP_ADDR) \
		--resync-interval 10

lint: $(STAMP)
	$(BIN)/ruff check controller tests bench tools
	$(BIN)/ruff format --check controller tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# Most tests wait (on the emulated AWS, on subprocesses): several run side by side even on
# two cores. PYTEST_WORKERS=0 runs them one by one.
PYTEST_WORKERS ?= 6

pytest: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

test: lint typecheck imports pytest

crds: $(STAMP)
	$(BIN)/ecs-gitops schema --out crds/

shapes: $(STAMP)
	$(BIN)/python tools/gen_ecs_shapes.py

bench: $(STAMP)
	$(BIN)/python bench/validate_files.py --files 1000
	$(BIN)/python bench/commit_latency.py --commits 20

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
