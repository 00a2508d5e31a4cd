"""Generation fields, validated once for sessions, presets and generation requests.

A bad default is refused when it is saved (a session's ``custom_settings``, a preset's
``params``), with the same rules a ``POST /generate/*`` request meets, so it never reaches a
job. Names are checked in ``genparams.names``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from core.errors import Conflict
from core.serializers import OptionalBooleanField
from genparams.adetailer import validate_tabs
from genparams.names import Catalog, check_names, load_catalog


def _multiple_of_8(value: int) -> None:
    if value % 8:
        raise serializers.ValidationError(
            f"Must be a multiple of 8 (A1111 rounds it otherwise); try {value - value % 8} "
            f"or {value - value % 8 + 8}."
        )


def _size_field(limit: int) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=settings.HUB_MIN_SIZE,
        max_value=limit,
        validators=[_multiple_of_8],
    )


def _hr_resize_field(limit: int) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=limit * int(settings.HUB_MAX_HR_SCALE),
        help_text="Hires target size in pixels; 0 = use hr_scale.",
    )


def _prompt_field() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=settings.HUB_MAX_PROMPT_CHARS,
    )


class GenerationParamsSerializer(serializers.Serializer):
    """Every generation field of the README's request, all optional and with no defaults.

    A partial dict stays partial: the payload builder merges server defaults < session
    ``custom_settings`` < preset < request, and only then fills what is still missing.
    Names are checked against ``context["catalog"]`` if given, else the cached catalog.
    """

    prompt = _prompt_field()
    negative_prompt = _prompt_field()
    checkpoint = serializers.CharField(
        required=False, help_text="Any A1111 checkpoint alias: title, file name, stem, hash."
    )
    vae = serializers.CharField(required=False, help_text='A VAE file name, "Automatic" or "None".')
    sampler_name = serializers.CharField(
        required=False, help_text='A sampler name, or a legacy name such as "DPM++ 2M Karras".'
    )
    scheduler = serializers.CharField(required=False, help_text="Scheduler name or label.")
    steps = serializers.IntegerField(required=False, min_value=1, max_value=settings.HUB_MAX_STEPS)
    cfg_scale = serializers.FloatField(required=False, min_value=1, max_value=30)
    width = _size_field(settings.HUB_MAX_WIDTH)
    height = _size_field(settings.HUB_MAX_HEIGHT)
    batch_count = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.HUB_MAX_IMAGES
    )
    batch_size = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.HUB_MAX_IMAGES
    )
    seed = serializers.IntegerField(required=False, min_value=-1, max_value=2**63 - 1)
    subseed = serializers.IntegerField(required=False, min_value=-1, max_value=2**63 - 1)
    subseed_strength = serializers.FloatField(required=False, min_value=0, max_value=1)
    enable_hr = OptionalBooleanField(required=False)
    hr_scale = serializers.FloatField(
        required=False, min_value=1, max_value=settings.HUB_MAX_HR_SCALE
    )
    hr_upscaler = serializers.CharField(
        required=False, help_text='An upscaler or latent mode, e.g. "4x-UltraSharp", "Latent".'
    )
    hr_second_pass_steps = serializers.IntegerField(
        required=False, min_value=0, max_value=settings.HUB_MAX_STEPS
    )
    hr_resize_x = _hr_resize_field(settings.HUB_MAX_WIDTH)
    hr_resize_y = _hr_resize_field(settings.HUB_MAX_HEIGHT)
    denoising_strength = serializers.FloatField(required=False, min_value=0, max_value=1)
    restore_faces = OptionalBooleanField(required=False)
    tiling = OptionalBooleanField(required=False)
    clip_skip = serializers.IntegerField(required=False, min_value=1, max_value=12)
    styles = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=32,
        help_text="Prompt style names from GET /models `styles` (at most 32).",
    )
    refiner_checkpoint = serializers.CharField(
        required=False,
        help_text="SDXL refiner: a checkpoint (any alias) to switch to during sampling.",
    )
    refiner_switch_at = serializers.FloatField(
        required=False,
        min_value=0.01,
        max_value=1,
        help_text="Fraction of the steps after which the refiner takes over (1 = never).",
    )
    face_restorer = serializers.CharField(
        required=False,
        help_text='With restore_faces: a name from GET /models `face_restorers` ("CodeFormer").',
    )
    codeformer_weight = serializers.FloatField(
        required=False, min_value=0, max_value=1, help_text="CodeFormer weight (0 = strongest)."
    )
    adetailer = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=10,
        help_text="ADetailer tabs: [{ad_model, ad_prompt, ad_negative_prompt, ad_confidence, "
        "ad_denoising_strength, ad_inpaint_only_masked, …}] (Bing-su/adetailer ADetailerArgs).",
    )

    def _check_name(self, field: str, value: str) -> str:
        # Field-level, so a bad name is reported together with any bad number.
        if "_catalog" not in self.__dict__:
            catalog = self.context.get("catalog")
            self._catalog = (load_catalog() or {}) if catalog is None else catalog
        errors = check_names({field: value}, self._catalog)
        if errors:
            raise serializers.ValidationError(errors[field])
        return value

    def validate_checkpoint(self, value: str) -> str:
        return self._check_name("checkpoint", value)

    def validate_vae(self, value: str) -> str:
        return self._check_name("vae", value)

    def validate_sampler_name(self, value: str) -> str:
        return self._check_name("sampler_name", value)

    def validate_scheduler(self, value: str) -> str:
        return self._check_name("scheduler", value)

    def validate_hr_upscaler(self, value: str) -> str:
        return self._check_name("hr_upscaler", value)

    def validate_refiner_checkpoint(self, value: str) -> str:
        return self._check_name("refiner_checkpoint", value)

    def validate_face_restorer(self, value: str) -> str:
        return self._check_name("face_restorer", value)

    def validate_adetailer(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            return value
        if "_catalog" not in self.__dict__:
            catalog = self.context.get("catalog")
            self._catalog = (load_catalog() or {}) if catalog is None else catalog
        if "adetailer" in self._catalog and self._catalog["adetailer"] is None:
            raise Conflict(
                "No backend has the ADetailer extension (Bing-su/adetailer); install it on an "
                "A1111 backend or leave `adetailer` out.",
                code="extension_missing",
            )
        return validate_tabs(value, self._catalog.get("adetailer"))

    def validate_styles(self, value: list[str]) -> list[str]:
        if value:
            self._check_name("styles", value)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        images = attrs.get("batch_size", 1) * attrs.get("batch_count", 1)
        if images > settings.HUB_MAX_IMAGES:
            raise serializers.ValidationError(
                {
                    "batch_size": [
                        f"batch_size x batch_count is {images}; at most "
                        f"{settings.HUB_MAX_IMAGES} images per request."
                    ]
                }
            )
        check_output_pixels(attrs)
        return attrs


GENERATION_FIELDS = tuple(GenerationParamsSerializer().fields)


def hires_size(width: int, height: int, params: dict[str, Any]) -> tuple[int, int]:
    """The size the hires pass generates at, by A1111's own arithmetic
    (``modules/processing.py`` ``StableDiffusionProcessingTxt2Img.calculate_target_resolution``):
    one hr_resize side keeps the aspect ratio; both cover the target (the larger scale
    wins) and the excess is cut afterwards, so the pass itself is that large."""
    resize_x, resize_y = int(params.get("hr_resize_x") or 0), int(params.get("hr_resize_y") or 0)
    if not resize_x and not resize_y:
        scale = params.get("hr_scale") or 2.0
        return int(width * scale), int(height * scale)
    if not resize_y:
        return resize_x, resize_x * height // width
    if not resize_x:
        return resize_y * width // height, resize_y
    if width / height < resize_x / resize_y:
        return resize_x, resize_x * height // width
    return resize_y * width // height, resize_y


def output_pixels(params: dict[str, Any]) -> int:
    """Pixels a request makes: its size (the hires pass's size when hires fix is on), times
    the images. What a GPU's memory and time follow."""
    width, height = params.get("width") or 512, params.get("height") or 512
    if params.get("enable_hr"):
        width, height = hires_size(width, height, params)
    images = (params.get("batch_size") or 1) * (params.get("batch_count") or 1)
    return int(width * height * images)


def check_output_pixels(params: dict[str, Any]) -> None:
    total = output_pixels(params)
    if total > settings.HUB_MAX_OUTPUT_PIXELS:
        raise serializers.ValidationError(
            {
                "width": [
                    f"This request makes {total:,} pixels (width x height x hires scale² x "
                    f"images); at most {settings.HUB_MAX_OUTPUT_PIXELS:,}. Lower the size, "
                    "hr_scale or the number of images."
                ]
            }
        )


def validate_generation_params(data: dict, *, catalog: Catalog | None = None) -> dict:
    """Check a (partial) dict of generation fields; return it cleaned, with only its keys.

    Unknown keys are refused: a typo in a saved default would otherwise be ignored forever.
    ``catalog=None`` fetches the cached catalog only if a name is present.
    """
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {"non_field_errors": ["Expected an object of generation parameters."]}
        )
    unknown = [key for key in data if key not in GENERATION_FIELDS]
    if unknown:
        raise serializers.ValidationError(
            {
                key: [f"Unknown generation parameter. Known: {', '.join(GENERATION_FIELDS)}."]
                for key in unknown
            }
        )
    serializer = GenerationParamsSerializer(data=data, context={"catalog": catalog})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
