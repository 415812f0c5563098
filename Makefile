# Huddle: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := bash
export UV_PYTHON_DOWNLOADS := never
# uv from PATH, else the pip-installed module (installed on demand by `make install`).
UV = $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=
# Test processes (pytest-xdist): most of the suite waits on servers, browsers and databases, so two
# processes on two cores finish the suite in ~15 minutes instead of ~19. Each test file runs whole in one process (its
# module fixtures, e.g. a browser or a cluster, start once). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2

.PHONY: help install run test lint fmt typecheck migrate migration openapi sdk loadtest bench soak clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## install the locked dependencies into .venv (uv, Python 3.11+)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: install ## serve the app; nothing configured = SQLite + var/media + 1 worker (HOST, PORT, WORKERS from env)
	@$(UV) run --frozen --quiet huddle run

test: install node_modules ## run the tests (absent PostgreSQL/Redis/Azurite skip; HUDDLE_REQUIRE_SERVICES=1 makes them fail)
	@$(UV) run --frozen --quiet pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

# Azurite (Azure Blob emulator) for the blob store tests and the official AsyncAPI schema for the socket
# contract's, from the committed lock file; without npm those tests skip (and fail under
# HUDDLE_REQUIRE_SERVICES=1).
node_modules: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund && touch node_modules; \
	else echo "npm not found: the Azure blob store and AsyncAPI schema tests will skip"; fi

lint: install ## ruff lint and format check, and the import layers (pyproject.toml [tool.importlinter])
	@$(UV) run --frozen --quiet ruff check .
	@$(UV) run --frozen --quiet lint-imports --no-cache --no-logo
	@$(UV) run --frozen --quiet ruff format --check .

fmt: install ## format the code and apply safe lint fixes
	@$(UV) run --frozen --quiet ruff format .
	@$(UV) run --frozen --quiet ruff check --fix .

typecheck: install ## strict type check of app/
	@$(UV) run --frozen --quiet mypy

migrate: install ## upgrade the database in DATABASE_URL to the latest schema
	@$(UV) run --frozen --quiet huddle migrate

migration: install ## autogenerate a migration from the models: make migration m="what changed"
	@test -n "$(m)" || (echo 'usage: make migration m="what changed"' && exit 2)
	@$(UV) run --frozen --quiet huddle makemigration -m "$(m)"

openapi: install ## write sdk/openapi.json and sdk/asyncapi.json, the committed API documents (a test fails when one is stale)
	@$(UV) run --frozen --quiet huddle openapi --out sdk/openapi.json
	@$(UV) run --frozen --quiet huddle asyncapi --out sdk/asyncapi.json

sdk: install node_modules ## generate the Python client (build/sdk/python) and TypeScript types (build/sdk/typescript) from sdk/openapi.json
	@$(UV) run --frozen --quiet openapi-python-client generate --path sdk/openapi.json \
		--config sdk/python-client.yaml --output-path build/sdk/python --overwrite
	@mkdir -p build/sdk/typescript
	@node_modules/.bin/openapi-typescript sdk/openapi.json -o build/sdk/typescript/huddle.d.ts

# Locust against a running app (`make run` in another shell): users, ramp (users/s) and duration from
# the environment; CSV and HTML reports in var/loadtest/.
LOADTEST_HOST ?= http://127.0.0.1:8000
LOADTEST_USERS ?= 50
LOADTEST_RAMP ?= 10
LOADTEST_DURATION ?= 60s
loadtest: install ## Locust, headless, against LOADTEST_HOST (LOADTEST_USERS, _RAMP, _DURATION); reports in var/loadtest/
	@$(UV) run --frozen --quiet python -m loadtests.loadtest --host $(LOADTEST_HOST) --users $(LOADTEST_USERS) \
		--ramp $(LOADTEST_RAMP) --duration $(LOADTEST_DURATION)

# Huddle against the peers in ../shared/bench, in one run (about 10 minutes): needs PostgreSQL and
# Redis on loopback, node, and `apt-get install -y nginx-light wrk`. Writes docs/benchmarks.md and
# docs/bench/ (plots, results.json). BENCH_ARGS="--quick" for a smoke run.
BENCH_ARGS ?=
bench: install ## fan-out, range streaming and idle memory against the peers; writes docs/benchmarks.md
	@$(UV) run --frozen --quiet python -m loadtests.bench $(BENCH_ARGS)

# Steady mixed load (chat, WebSockets that reconnect, range streaming) on PostgreSQL + Redis with 2
# workers for SOAK_DURATION seconds, then checks: RSS growth after warm-up, empty connection registries,
# no pub/sub channel left, no server error. Writes docs/soak.md; exits 1 when a check fails.
SOAK_DURATION ?= 600
SOAK_USERS ?= 40
soak: install ## bounded soak (about 10 minutes): no memory growth, no leaked sockets; writes docs/soak.md
	@$(UV) run --frozen --quiet python -m loadtests.soak --duration $(SOAK_DURATION) --users $(SOAK_USERS)

clean: ## remove caches (keeps var/, your local data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
