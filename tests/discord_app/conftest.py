"""A signing key pair (real Ed25519), the stand-in Discord API, and the housekeeping queue."""

from __future__ import annotations

import pytest
from discordhelpers import APPLICATION_ID
from django.conf import settings as django_settings
from django_q.brokers import get_broker
from nacl.signing import SigningKey

from discordsim.server import StandIn


@pytest.fixture(scope="session")
def standin_server():
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def standin(standin_server, settings):
    """The stand-in Discord API, emptied; the hub pointed at it (no bot token)."""
    standin_server.reset()
    settings.DISCORD_API_URL = standin_server.url
    settings.DISCORD_APPLICATION_ID = APPLICATION_ID
    settings.DISCORD_BOT_TOKEN = ""
    return standin_server


@pytest.fixture
def signing_key(settings) -> SigningKey:
    key = SigningKey.generate()
    settings.DISCORD_PUBLIC_KEY = key.verify_key.encode().hex()
    return key


@pytest.fixture
def housekeeping(cluster):
    """The housekeeping queue (where Discord edits run), drained in this process."""
    hk = type(cluster)()
    hk.broker = get_broker(django_settings.HUB_HOUSEKEEPING_QUEUE)
    hk.broker.purge_queue()
    return hk
