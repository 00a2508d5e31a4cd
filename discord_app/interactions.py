"""Interactions in, responses out: the types Discord sends and the answers it takes.

Interaction types: 1 PING, 2 APPLICATION_COMMAND, 3 MESSAGE_COMPONENT (a button),
4 APPLICATION_COMMAND_AUTOCOMPLETE, 5 MODAL_SUBMIT. Response types: 1 PONG, 4 a message,
5 deferred (the message comes later, by editing the original), 8 autocomplete choices,
9 a modal. Flag 64 makes a message ephemeral (only the user sees it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rest_framework.exceptions import APIException, ValidationError

from discord_app import autocomplete, imagine, personal
from discord_app.messages import ephemeral

logger = logging.getLogger(__name__)

PING, COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
PONG = {"type": 1}

COMMAND_HANDLERS: dict[str, Callable[[dict], dict]] = {
    "imagine": imagine.imagine,
    "lora": personal.lora,
    "settings": personal.settings_command,
    "preset": personal.preset,
    "queue": personal.queue,
    "cancel": personal.cancel,
    "session": personal.session,
}


def error_text(exc: APIException) -> str:
    """A hub error as a user reads it: the rule that refused, and what to do."""
    detail = exc.detail
    if isinstance(exc, ValidationError) and isinstance(detail, dict):
        parts = [f"{field}: {' '.join(map(str, msgs if isinstance(msgs, list) else [msgs]))}"
                 for field, msgs in detail.items()]  # fmt: skip
        detail = "; ".join(parts)
    rule = getattr(exc, "extra", {}).get("rule")
    prefix = f"Refused by the rule `{rule}`: " if rule else "❌ "
    return f"{prefix}{detail}"


def respond(interaction: dict[str, Any]) -> dict[str, Any]:
    """The response to one verified interaction. A hub error becomes an ephemeral message
    the user can act on; nothing is silent."""
    kind = interaction.get("type")
    if kind == PING:
        return PONG
    try:
        if kind == COMMAND:
            name = (interaction.get("data") or {}).get("name", "")
            handler = COMMAND_HANDLERS.get(name)
            if handler is None:
                return ephemeral(f"This hub has no /{name} command (run discord_commands --sync).")
            return handler(interaction)
        if kind == AUTOCOMPLETE:
            return autocomplete.choices(interaction)
        if kind == COMPONENT:
            return imagine.button(interaction)
        if kind == MODAL_SUBMIT:
            return imagine.modal_submit(interaction)
    except APIException as exc:
        if kind == AUTOCOMPLETE:
            return {"type": 8, "data": {"choices": []}}
        return ephemeral(error_text(exc))
    except Exception:  # a bug: logged, and the user still hears back
        logger.exception("Interaction %s failed", interaction.get("id"))
        if kind == AUTOCOMPLETE:
            return {"type": 8, "data": {"choices": []}}
        return ephemeral("The hub could not do that (an error on its side, logged). Try again.")
    return ephemeral("This kind of interaction is not handled here.")
