"""Shared fixtures: a1111sim over real HTTP, backends pointing at it, and API clients."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache, caches
from rest_framework.test import APIClient

from a1111hub.datadir import prepare_data_dir
from backends.models import Backend
from core.models import ApiKey
from generation_app.delivery import status

prepare_data_dir()  # what manage.py does at start-up: the SQLite test database lives there

# The longest tests, started first so pytest-xdist's workers do not wait on one of them at
# the end (the schemathesis operations that upload take over a minute each). Plain `load`
# scheduling: schemathesis gives every operation the same node id, which `loadscope` and
# `loadgroup` would fold into one test.
RUN_FIRST = (
    "tests/test_schemathesis.py",
    "tests/webui/",
    "tests/test_system.py",
    "tests/test_system_clusters.py",
    "tests/bench/",
    "tests/test_generated_client.py",
)


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput"):  # the run's own process, not an xdist worker
        from systemhelpers import prepare_shared_run

        prepare_shared_run()


def pytest_unconfigure(config) -> None:
    if not hasattr(config, "workerinput"):
        from dbhelpers import drop_template
        from systemhelpers import stop_shared_running_hub

        drop_template()
        stop_shared_running_hub()  # and the shared folder


@pytest.fixture(scope="session", autouse=True)
def _worker_database(request):
    """An xdist worker's database, made before its first test (from the run's template,
    made by the first worker): the hubs that system tests start copy that template."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        request.getfixturevalue("django_db_setup")


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """pytest-django's, but in an xdist worker the database is a copy of one migrated once
    per run (tests/dbhelpers.py). pytest-django's --reuse-db and --no-migrations are not
    honoured: the suite always starts from a freshly migrated database."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    with django_db_blocker.unblock():
        if worker:
            from dbhelpers import clone_for_worker

            original = clone_for_worker(connection, worker)
        else:
            databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        if worker:
            from dbhelpers import destroy_clone

            destroy_clone(connection, original)
        else:
            teardown_databases(databases, verbosity=0)


def pytest_collection_modifyitems(config, items) -> None:
    def rank(item) -> int:
        path = item.nodeid
        return next(
            (i for i, first in enumerate(RUN_FIRST) if path.startswith(first)), len(RUN_FIRST)
        )

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def sim_lora_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sim-loras")


@pytest.fixture(scope="session")
def sim_server(sim_lora_dir):
    """One a1111sim for the whole run, on a free loopback port, with no step delay."""
    from a1111sim.server import SimConfig, start_in_thread

    server = start_in_thread(
        SimConfig(port=0, step_ms=0, swap_ms=0, lora_dir=str(sim_lora_dir), seed_loras=True)
    )
    yield server
    server.shutdown()


@pytest.fixture
def sim(sim_server):
    """The simulator, reset (faults, history, loaded model) before and after each test."""
    sim_server.reset()
    yield sim_server
    sim_server.reset()


@pytest.fixture(autouse=True)
def _clear_cache(request):
    cache.clear()
    status.forget()  # what web processes keep in memory (finished jobs' bodies, backend URLs)
    if _uses_db(request):  # without Redis the shared cache is a table of the test database
        request.getfixturevalue("django_db_setup")
        with request.getfixturevalue("django_db_blocker").unblock():
            caches["shared"].clear()
    yield
    cache.clear()


def _uses_db(request) -> bool:
    """The shared cache is a database table without Redis: only tests with a database."""
    names = set(request.fixturenames)
    return bool(names & {"db", "transactional_db", "live_server"}) or any(
        "django_db" == mark.name for mark in request.node.iter_markers()
    )


@pytest.fixture
def backend(db, sim) -> Backend:
    return Backend.objects.create(name="sim", url=sim.url)


@pytest.fixture
def service_key(db) -> str:
    return ApiKey.generate("test service")[1]


@pytest.fixture
def api(service_key) -> APIClient:
    """An API client authenticated with a service key (may act for any user)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    return client


@pytest.fixture
def user_api(db):
    """Factory: an API client holding a user key for ``user_id``."""

    def make(user_id: str) -> APIClient:
        raw = ApiKey.generate(f"key for {user_id}", user_id=user_id)[1]
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        return client

    return make


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class InProcessCluster:
    """Drives django-q2's own pusher -> worker -> monitor in this process, the way
    django_q/tests/test_cluster.py does, against the configured broker (ORM or Redis)."""

    def __init__(self):
        from django_q.brokers import get_broker

        self.broker = get_broker()
        self.broker.purge_queue()

    def run_once(self) -> int:
        """Take what the broker has ready and run it to completion; returns tasks run."""
        from multiprocessing import Event, Value

        from django_q.monitor import monitor
        from django_q.pusher import pusher
        from django_q.queues import Queue
        from django_q.worker import worker

        task_queue, result_queue, event = Queue(), Queue(), Event()
        event.set()
        pusher(task_queue, event, broker=self.broker)
        count = task_queue.qsize()
        if not count:
            return 0
        task_queue.put("STOP")
        worker(task_queue, result_queue, Value("f", -1))
        result_queue.put("STOP")
        monitor(result_queue, self.broker)
        return count

    def drain(self, timeout: float = 30.0) -> int:
        """Run tasks until the broker is empty."""
        import time

        ran, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.run_once()
            ran += done
            if not done and self.broker.queue_size() == 0:
                return ran
            if not done:
                time.sleep(0.01)
        raise AssertionError("the queue did not drain in time")

    def drain_in_thread(self):
        """Drain in a background thread (for cancel-while-running); join the thread to wait."""
        import threading

        from django.db import connection

        def run():
            try:
                self.drain()
            finally:
                connection.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def cluster(transactional_db) -> InProcessCluster:
    return InProcessCluster()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test writes images to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def running_hub():
    """One real hub (`manage.py runhub` + the simulator) for the tests that drive it from
    outside with third-party tools: the generated client and the schemathesis run. One for
    the whole run, every xdist worker's (stopped by pytest_unconfigure)."""
    from systemhelpers import shared_running_hub

    return shared_running_hub(
        # Fuzzed requests queue real jobs: keep them small and few, and bound the direct
        # calls that wait behind them (a caption waits for A1111's queue lock).
        HUB_MAX_OUTPUT_PIXELS=str(1024 * 1024),
        HUB_MAX_ACTIVE_JOBS_PER_USER="2",
        HUB_INTERROGATE_TIMEOUT="5",
        HUB_PREPROCESS_TIMEOUT="5",
        # An event stream the fuzzer opens ends after a second, with what it sent.
        HUB_EVENT_STREAM_SECONDS="1",
        # The fuzzer's requests must not use up the rate limits of the tests that share
        # this hub (in one xdist worker they may run after it).
        HUB_RATE_LIMIT="1000000/min",
        HUB_GENERATION_RATE_LIMIT="1000000/min",
    )
