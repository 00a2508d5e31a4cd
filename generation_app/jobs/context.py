"""What a generation request is built from, read once per request: the user's session, the
preset it names, and the model catalog. Parsing, validation and the payload builder all
use this one copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from genparams.names import Catalog, checkpoint_titles, load_catalog
from presets_app.models import Preset
from presets_app.services import get_preset_for_generation
from sessions_app.services import session_state


@dataclass
class GenerationContext:
    user_id: str
    session: dict[str, Any]
    preset: Preset | None
    catalog: Catalog | None  # None when no backend answered: name checks are skipped
    # The community's and channel's defaults: over the server's, under the user's session.
    community_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        """The generation defaults this request starts from."""
        return {**settings.HUB_GENERATION_DEFAULTS, **self.community_defaults}

    @property
    def saved_controlnet_units(self) -> list[dict]:
        """Unit defaults: the preset's units if it has any, else the session's configs."""
        if self.preset is not None and self.preset.controlnet_units:
            return list(self.preset.controlnet_units)
        return list(self.session["controlnet_configs"])

    @property
    def checkpoint_titles(self) -> dict[str, str]:
        return checkpoint_titles(self.catalog)


def read_context(user_id: str, preset_id: int | None) -> GenerationContext:
    preset = get_preset_for_generation(user_id, preset_id) if preset_id is not None else None
    return GenerationContext(
        user_id=user_id, session=session_state(user_id), preset=preset, catalog=load_catalog()
    )
