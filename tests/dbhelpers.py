"""One migrated test database per run, copied for each pytest-xdist worker.

pytest-django migrates a test database in every worker; with six workers migrating at once
on two cores, each worker's first test waited about 20 s for it (pytest's --durations). Here the first worker migrates a template
(under a lock in the run's shared folder, tests/systemhelpers.py) and every worker clones
it the way Django's own parallel runner does (``clone_test_db``: a file copy on SQLite,
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL). The run's own process drops the template
at the end (:func:`drop_template`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from systemhelpers import postgres, shared_folder, shared_lock

TEMPLATE_STATE = "test-db-template.json"


def _template_name(connection, shared: Path) -> str:
    if connection.vendor == "sqlite":
        return str(shared / "test-db-template.sqlite3")
    return f"test_template_{shared.name.rsplit('-', 1)[-1].lower()}"


def clone_for_worker(connection, worker: str) -> str:
    """Point ``connection`` at a migrated database of this worker's own, made from the
    run's template (migrated here if no worker has yet). Returns the original NAME, for
    :func:`destroy_clone`."""
    creation = connection.creation
    original = connection.settings_dict["NAME"]
    shared = shared_folder()
    with shared_lock(shared, "test-db"):
        state = shared / TEMPLATE_STATE
        template = _template_name(connection, shared)
        if not state.exists():
            connection.settings_dict["TEST"] = {
                **connection.settings_dict["TEST"],
                "NAME": template,
            }
            creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            connection.close()  # no session may use a template while it is copied
            state.write_text(json.dumps({"vendor": connection.vendor, "name": template}))
        connection.settings_dict["NAME"] = template
        creation.clone_test_db(suffix=worker, verbosity=0, autoclobber=True)
    clone = creation.get_test_db_clone_settings(worker)["NAME"]
    _use(connection, clone)
    return original


def _use(connection, name: str) -> None:
    from django.conf import settings

    connection.close()
    connection.settings_dict["NAME"] = name
    settings.DATABASES[connection.alias]["NAME"] = name


def destroy_clone(connection, original: str) -> None:
    connection.creation.destroy_test_db(original, verbosity=0)


def copy_template(data_dir: Path, database: str) -> bool:
    """Give a hub that a test starts (``HUB_DATA_DIR`` ``data_dir``; on PostgreSQL, the
    new, not yet existing ``database``) a migrated database: a copy of the run's template,
    so its own migrate finds nothing to do. False when no worker has made the template (or
    the run has no shared folder: another suite, such as tests_real, starting a hub)."""
    shared = shared_folder(create=False)
    if shared is None:
        return False
    with shared_lock(shared, "test-db"):
        state = shared / TEMPLATE_STATE
        if not state.exists():
            return False
        template = json.loads(state.read_text())
        if template["vendor"] == "sqlite":
            shutil.copy(template["name"], data_dir / "hub.sqlite3")
        else:
            postgres("createdb", "-T", template["name"], database)
    return True


def drop_template() -> None:
    """In the run's own process, when it ends: the template of a PostgreSQL run (a SQLite
    one is a file in the shared folder, removed with it)."""
    shared = shared_folder(create=False)
    state = shared / TEMPLATE_STATE if shared else None
    if state is None or not state.exists():
        return
    template = json.loads(state.read_text())
    if template["vendor"] == "postgresql":
        postgres("dropdb", "--if-exists", template["name"], check=False)
