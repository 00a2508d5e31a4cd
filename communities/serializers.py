"""Request and response shapes of the community endpoints."""

from __future__ import annotations

from rest_framework import serializers

from communities.models import AuditEntry, Ban, Channel, Community
from core.query import PageQuerySerializer, QueryCharField, QueryChoiceField

ID_HELP = "Chosen by the client: a Discord guild id, a tenant id (letters, digits, . _ : -)."
POLICY_HELP = (
    "Caps (max_steps, max_width, max_height, max_images, max_pixels, max_active_jobs), "
    "allowed_/blocked_checkpoints, allowed_/blocked_loras (names or `tag:<tag>`), features "
    "({controlnet: false, ...}), banned_words, nsfw (block|blur|spoiler|allow), budget "
    "({per_user, per_community, period_hours, when_spent: refuse|downgrade})."
)


class CommunitySerializer(serializers.ModelSerializer):
    id = serializers.RegexField(r"^[A-Za-z0-9._:-]{1,100}$", help_text=ID_HELP)
    policy = serializers.JSONField(required=False, default=dict, help_text=POLICY_HELP)
    defaults = serializers.JSONField(
        required=False, default=dict, help_text="Generation defaults (as a request's fields)."
    )

    class Meta:
        model = Community
        fields = ["id", "name", "policy", "defaults", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class CommunityUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    policy = serializers.JSONField(required=False, help_text=POLICY_HELP)
    defaults = serializers.JSONField(required=False)


class ChannelSerializer(serializers.ModelSerializer):
    nsfw = serializers.BooleanField(
        required=False, default=False, help_text="Discord's age-restricted flag."
    )
    policy = serializers.JSONField(required=False, default=dict, help_text=POLICY_HELP)
    defaults = serializers.JSONField(required=False, default=dict)

    class Meta:
        model = Channel
        fields = ["channel_id", "nsfw", "policy", "defaults", "updated_at"]
        read_only_fields = ["channel_id", "updated_at"]


class ResolvedPolicySerializer(serializers.Serializer):
    community_id = serializers.CharField()
    channel_id = serializers.CharField(allow_null=True)
    channel_nsfw = serializers.BooleanField()
    nsfw = serializers.CharField(help_text="What a flagged image becomes here.")
    policy = serializers.DictField(help_text="Every rule that applies, resolved.")
    sources = serializers.DictField(help_text="For each rule, the level that set it.")
    defaults = serializers.DictField()


class BanSerializer(serializers.ModelSerializer):
    user_id = serializers.CharField(max_length=200)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    class Meta:
        model = Ban
        fields = ["user_id", "reason", "banned_by", "created_at"]
        read_only_fields = ["banned_by", "created_at"]


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id", "created_at", "user_id", "channel_id", "key_name", "kind", "prompt",
            "verdict", "rule", "detail", "job_id", "cost",
        ]  # fmt: skip


class AuditQuerySerializer(PageQuerySerializer):
    user_id = QueryCharField(required=False, max_length=200)
    channel_id = QueryCharField(required=False, max_length=100)
    verdict = QueryChoiceField(choices=AuditEntry.Verdict.values, required=False)
    q = QueryCharField(required=False, max_length=100, help_text="Words in the prompt.")


class PolicyQuerySerializer(serializers.Serializer):
    """The query of GET /communities/{community_id}/policy."""

    channel_id = QueryCharField(
        required=False, max_length=100, help_text="Resolve for this channel too."
    )


class MeQuerySerializer(serializers.Serializer):
    """The query of GET /me: where the limits are to apply."""

    community_id = QueryCharField(
        required=False, max_length=100, help_text="Resolve the limits in this community."
    )
    channel_id = QueryCharField(
        required=False, max_length=100, help_text="And in this channel of it."
    )


class UsageQuerySerializer(serializers.Serializer):
    """The query of GET /users/{user_id}/usage."""

    community_id = QueryCharField(
        required=False,
        max_length=100,
        help_text="Which community (default: the key's own, if it is bound to one).",
    )


class UsageSerializer(serializers.Serializer):
    community_id = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    spent = serializers.FloatField()
    budget = serializers.FloatField(allow_null=True)
    left = serializers.FloatField(allow_null=True)
    community_spent = serializers.FloatField()
    community_budget = serializers.FloatField(allow_null=True)


class LimitSerializer(serializers.Serializer):
    max = serializers.IntegerField()
    set_by = serializers.CharField(
        help_text="hub (a setting), or the policy level whose rule is tighter: global, "
        "community, channel or key."
    )


class MeSerializer(serializers.Serializer):
    """Who the key is, and what it may ask for (GET /me)."""

    user_id = serializers.CharField(help_text="The key's user; empty for a service key.")
    key_name = serializers.CharField()
    is_service = serializers.BooleanField(help_text="May act for any user id.")
    community_id = serializers.CharField(allow_null=True)
    channel_id = serializers.CharField(allow_null=True)
    limits = serializers.DictField(
        child=LimitSerializer(),
        help_text="steps, width, height, images, pixels, active_jobs: the tightest of the "
        "hub's setting and the policy.",
    )
    min_size = serializers.IntegerField()
    max_prompt_chars = serializers.IntegerField()
    max_active_loras = serializers.IntegerField()
    lora_weight = serializers.DictField(child=serializers.FloatField())
    features = serializers.DictField(child=serializers.BooleanField())
    nsfw = serializers.CharField(help_text="What a flagged image becomes here.")
    defaults = serializers.DictField(help_text="Server defaults, with the community's on top.")
    policy = serializers.DictField(help_text="Every rule that applies, resolved.")
    sources = serializers.DictField(help_text="For each rule, the level that set it.")
