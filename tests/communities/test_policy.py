"""Policy: checked field by field, resolved over its levels, applied to what a job asks."""

from __future__ import annotations

import pytest

from communities.rules import Ask, PolicyRefusal, check
from core.policy import PolicyError, clean_policy, nsfw_action, resolve


def no_labels(names):
    return {name: {name.lower()} for name in names}


def test_a_malformed_policy_names_each_bad_field():
    with pytest.raises(PolicyError) as caught:
        clean_policy(
            {
                "max_steps": 0,
                "nsfw": "sometimes",
                "colour": "red",
                "features": {"teleport": True},
                "budget": {"per_user": -1, "when_spent": "cry"},
            }
        )
    assert set(caught.value.errors) == {
        "max_steps", "nsfw", "colour", "features", "budget.per_user", "budget.when_spent",
    }  # fmt: skip


def test_a_policy_that_allows_and_blocks_one_name_contradicts_itself():
    with pytest.raises(PolicyError) as caught:
        clean_policy({"allowed_loras": ["a", "b"], "blocked_loras": ["b"]})
    assert "both allowed and blocked" in caught.value.errors["allowed_loras"]


def test_caps_take_the_tightest_level_and_lists_add_up():
    resolved = resolve(
        [
            ("global", {"max_steps": 80, "banned_words": ["gore"]}),
            ("community", {"max_steps": 30, "blocked_loras": ["x"], "nsfw": "blur"}),
            ("channel", {"max_steps": 50, "banned_words": ["ass"], "nsfw": "spoiler"}),
            ("key", {}),
        ]
    )
    assert resolved.get("max_steps") == 30 and resolved.source("max_steps") == "community"
    assert resolved.get("banned_words") == ["ass", "gore"]
    assert resolved.get("nsfw") == "spoiler" and resolved.source("nsfw") == "channel"


def test_adult_content_stays_in_age_restricted_channels():
    assert nsfw_action(resolve([]), channel_nsfw=False) == "block"
    assert nsfw_action(resolve([]), channel_nsfw=True) == "allow"
    assert nsfw_action(resolve([("community", {"nsfw": "allow"})]), channel_nsfw=False) == "block"
    assert nsfw_action(resolve([("channel", {"nsfw": "spoiler"})]), channel_nsfw=True) == "spoiler"


def test_a_refusal_names_the_rule_its_level_and_how_to_comply():
    policy = resolve([("community", {"max_steps": 30}), ("channel", {"max_steps": 40})])
    with pytest.raises(PolicyRefusal) as caught:
        check(policy, Ask(kind="txt2img", steps=31, width=512, height=512), no_labels)
    refusal = caught.value
    assert (refusal.rule, refusal.level, refusal.status_code) == ("max_steps", "community", 400)
    assert "This community allows at most 30 steps" in str(refusal.detail)


def test_checkpoints_match_by_name_whatever_the_folder_hash_or_extension():
    policy = resolve([("community", {"blocked_checkpoints": ["ponyDiffusionV6XL"]})])
    ask = Ask(kind="txt2img", checkpoint="SDXL/ponyDiffusionV6XL.safetensors [67ab2fd8ec]")
    with pytest.raises(PolicyRefusal) as caught:
        check(policy, ask, no_labels)
    assert caught.value.rule == "blocked_checkpoints"
    check(policy, Ask(kind="txt2img", checkpoint="animefull_final.safetensors [1]"), no_labels)


def test_loras_are_blocked_by_tag():
    policy = resolve([("community", {"blocked_loras": ["tag:nsfw"]})])

    def labels(names):
        return {"spicy": {"spicy", "tag:nsfw"}, "cat": {"cat", "tag:animal"}}

    check(policy, Ask(kind="txt2img", loras=["cat"]), labels)
    with pytest.raises(PolicyRefusal) as caught:
        check(policy, Ask(kind="txt2img", loras=["cat", "spicy"]), labels)
    assert caught.value.rule == "blocked_loras" and "tag:nsfw" in str(caught.value.detail)


def test_a_feature_turned_off_is_refused():
    policy = resolve([("channel", {"features": {"controlnet": False}})])
    with pytest.raises(PolicyRefusal) as caught:
        check(policy, Ask(kind="controlnet", features={"controlnet", "txt2img"}), no_labels)
    assert caught.value.rule == "features.controlnet" and caught.value.level == "channel"
