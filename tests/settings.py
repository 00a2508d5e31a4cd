"""The hub's settings for its own test suite (DJANGO_SETTINGS_MODULE in pyproject.toml).

`make test` runs the suite in several pytest-xdist workers. pytest-django gives each its
own test database; here each also gets its own queue names and, with Redis, its own pair
of Redis databases (broker, cache; an explicit HUB_CACHE_URL moves along), so one worker
never takes another's tasks nor flushes its cache. Without xdist these are the hub's own settings, unchanged.
"""

import os
from urllib.parse import urlsplit, urlunsplit

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker:
    _index = int(_worker.removeprefix("gw") or 0)
    os.environ["HUB_QUEUE_NAME"] = f"{os.environ.get('HUB_QUEUE_NAME', 'a1111hub')}-{_worker}"
    # Every process this worker starts (runhub in the system tests) inherits them. A cache
    # named on its own (HUB_CACHE_URL; else REDIS_URL's next database) moves the same way:
    # give it a database of the other parity than REDIS_URL's, so the pairs never overlap.
    for _name in ("REDIS_URL", "HUB_CACHE_URL"):
        if os.environ.get(_name):
            _url = urlsplit(os.environ[_name])
            _base = int(_url.path.lstrip("/") or 0)
            os.environ[_name] = urlunsplit(_url._replace(path=f"/{(_base + 2 * _index) % 16}"))

from a1111hub.settings import *  # noqa: E402, F403

# Django's own advice for test suites: a fast password hasher. The admin's sign-in tests hash
# a password for every attempt, and PBKDF2's million iterations made one of them take 24 s.
# Only this process's users (live_server, the test client) are made with it.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
