# A1111 Hub. `make run` starts the hub, `make test` runs the tests, `make test-real` the
# contract suite against a real A1111 (tests_real/), `make bench` the benchmarks
# (python -m bench.<name>); all set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
A1111_URL ?=
PYTEST_ARGS ?=
# pytest-xdist workers: most tests wait on HTTP, the simulator or the queue, so six
# share the two cores of the development machine well (docs/testing.md).
TEST_WORKERS ?= 6
# The real-A1111 kit (setup.sh, start.sh); built once into A1111_REAL_HOME (~/.cache/a1111-real).
A1111_REAL_DIR ?= /work/shared/a1111-real

.PHONY: run test test-real lint format bench venv clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) manage.py runhub --host $(HOST) --port $(PORT) $(if $(A1111_URL),--a1111-url $(A1111_URL),)

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-real: venv
	A1111_REAL_DIR="$(A1111_REAL_DIR)" PYTEST_ARGS="$(PYTEST_ARGS)" bash tests_real/run.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv
	$(PY) -m bench.jobs --json bench-results-jobs.json
	HUB_DATA_DIR=$$(mktemp -d) $(PY) -m bench.loras --json bench-results-loras.json
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_loras $(PY) -m bench.loras --json bench-results-loras-pg.json
	$(PY) -m bench.scheduler --json bench-results-scheduler.json
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_scheduler REDIS_URL=redis://127.0.0.1:6379/0 \
		$(PY) -m bench.scheduler --json bench-results-scheduler-pg.json
	HUB_DATA_DIR=$$(mktemp -d) $(PY) -m bench.safety --json bench-results-safety.json
	HUB_DATA_DIR=$$(mktemp -d) $(PY) -m bench.discord --json bench-results-discord.json
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_gallery $(PY) -m bench.gallery --json bench-results-gallery-pg.json
	$(PY) -m bench.cpu --json bench-results-cpu.json
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_cpu REDIS_URL=redis://127.0.0.1:6379/0 \
		$(PY) -m bench.cpu --json bench-results-cpu-pg.json
	$(PY) -m bench.soak --json bench-results-soak.json
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_soak REDIS_URL=redis://127.0.0.1:6379/0 \
		$(PY) -m bench.soak --json bench-results-soak-pg.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
