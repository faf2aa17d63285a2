# Everyday tasks. Each is a thin alias for a script, so nothing here is needed to use them.
.PHONY: run test ci lint lock

run:   ## install and serve on http://127.0.0.1:8000
	./scripts/run

test:  ## install and run lint, types, migration check and the tests (SQLite)
	./scripts/test

ci:    ## the tests on SQLite and PostgreSQL, as CI runs them
	./.ci/run

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy \
	  && .venv/bin/lint-imports --no-logo

lock:  ## re-pin requirements*.lock from pyproject.toml (./scripts/lock --upgrade to upgrade)
	./scripts/lock
