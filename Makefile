# The two commands of the README are `make run` and `make test`; both set up what is
# missing first (scripts/bootstrap.sh), so they work on a fresh machine.
PY := .venv/bin/python
PYTEST_ARGS ?=
LAB_ARGS ?=

.PHONY: run run-headless serve test lint typecheck bench bootstrap native clean

bootstrap:
	bash scripts/bootstrap.sh

# the account core compiled with mypyc (bootstrap does it when the sources changed)
native:
	$(PY) scripts/build_native.py

run:
	bash scripts/bootstrap.sh python
	$(PY) -m workspace lab $(LAB_ARGS)

run-headless:
	bash scripts/bootstrap.sh python
	$(PY) -m workspace demo

serve:
	bash scripts/bootstrap.sh python
	$(PY) -m workspace serve --feed sim --port 8000

test:
	bash scripts/bootstrap.sh
	$(PY) -m ruff check workspace widgets tests benchmarks scripts
	$(PY) -m ruff format --check workspace widgets tests benchmarks scripts
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check workspace widgets tests benchmarks scripts
	$(PY) -m ruff format --check workspace widgets tests benchmarks scripts

typecheck:
	$(PY) -m mypy

bench:
	bash scripts/bootstrap.sh python
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .venv node_modules .pytest_cache .mypy_cache .ruff_cache artifacts .native
