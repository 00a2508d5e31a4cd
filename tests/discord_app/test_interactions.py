"""The hub as a Discord bot: signed interactions in, edits and results out to the stand-in
Discord API, with real Ed25519 signatures and jobs on the real queue and simulator."""

from __future__ import annotations

import time

import pytest
import requests
from discordhelpers import command, interaction, option, signed_post
from django.core.management import call_command
from rest_framework.test import APIClient

from communities.models import Community
from discord_app.models import DiscordReply
from generation_app.models import Job
from loras_app.models import Lora

SMALL = [option("size", "512x512"), option("steps", 3, kind=4)]


# --- signatures ----------------------------------------------------------------------------
def test_a_signed_ping_gets_a_pong(signing_key, db):
    response = signed_post(signing_key, {"type": 1, "id": "1", "application_id": "1"})
    assert response.status_code == 200 and response.json() == {"type": 1}


def test_unsigned_tampered_or_stale_interactions_are_refused(signing_key, db):
    ping = {"type": 1, "id": "1"}
    unsigned = APIClient().post("/discord/interactions", ping, format="json")
    assert unsigned.status_code == 401
    tampered = signed_post(signing_key, ping, body=b'{"type": 1, "id": "1"}')
    assert tampered.status_code == 200  # the same bytes signed: fine
    raw = b'{"type":1}'
    stamp = str(int(time.time()))
    signature = signing_key.sign(stamp.encode() + raw).signature.hex()
    forged = APIClient().post(
        "/discord/interactions", data=b'{"type":2}', content_type="application/json",
        HTTP_X_SIGNATURE_ED25519=signature, HTTP_X_SIGNATURE_TIMESTAMP=stamp,
    )  # fmt: skip
    assert forged.status_code == 401
    stale = signed_post(signing_key, ping, timestamp=int(time.time()) - 600)
    assert stale.status_code == 401 and stale.json()["error"] == "invalid_signature"


# --- /imagine ------------------------------------------------------------------------------
def run_everything(cluster, housekeeping) -> None:
    housekeeping.drain()  # the queue position at once
    cluster.drain()
    housekeeping.drain()


def test_imagine_is_deferred_then_edited_with_progress_and_the_result(
    signing_key, standin, backend, cluster, housekeeping
):
    body = command("imagine", [option("prompt", "a lighthouse at dusk"), *SMALL])
    response = signed_post(signing_key, body)
    assert response.json() == {"type": 5}
    job = Job.objects.get()
    assert job.user_id == "discord:42" and job.community_id == "555" and job.channel_id == "777"
    assert Community.objects.filter(pk="555").exists()  # the guild became a community
    run_everything(cluster, housekeeping)

    edits = standin.calls_to(
        rf"/webhooks/{body['application_id']}/{body['token']}/messages/@original"
    )
    assert [c.status for c in edits] == [200] * len(edits) and len(edits) >= 2
    assert edits[0].json["content"].startswith("⏳ Queued: position")
    final = edits[-1]
    assert list(final.files) == ["files[0]"] and final.files["files[0]"][1] <= 8 * 1024 * 1024
    assert "a lighthouse at dusk" in final.json["content"]
    labels = [b["label"] for row in final.json["components"] for b in row["components"]]
    assert labels[:4] == ["Reroll", "Variations", "Use as img2img", "Save preset"]
    assert "Upscale ×2 #1" in labels
    assert DiscordReply.objects.get().finished


def test_a_policy_refusal_reaches_the_user_naming_the_rule(signing_key, standin, api, backend):
    Community.objects.create(id="555", name="Guild", policy={"max_steps": 30})
    body = command("imagine", [option("prompt", "a cat"), option("steps", 40, kind=4)])
    answer = signed_post(signing_key, body).json()
    assert answer["type"] == 4 and answer["data"]["flags"] == 64
    assert "max_steps" in answer["data"]["content"] and "30" in answer["data"]["content"]
    assert not Job.objects.exists()


def test_a_rate_limited_edit_is_retried_never_dropped(
    signing_key, standin, backend, cluster, housekeeping
):
    body = command("imagine", [option("prompt", "a fox"), *SMALL])
    signed_post(signing_key, body)
    standin.rate_limit_next(0.3)
    housekeeping.drain()
    edits = standin.calls_to(r"/messages/@original")
    assert [c.status for c in edits] == [429, 200]
    assert edits[1].at - edits[0].at >= 0.3


def test_a_late_result_goes_to_the_channel_with_the_bot_token(
    signing_key, standin, backend, cluster, housekeeping, settings
):
    settings.DISCORD_BOT_TOKEN = standin.bot_token
    body = command("imagine", [option("prompt", "a slow owl"), *SMALL])
    signed_post(signing_key, body)
    standin.expire(body["token"])
    cluster.drain()
    housekeeping.drain()
    posted = standin.calls_to(r"/channels/777/messages", "POST")
    assert [c.status for c in posted] == [200]
    assert posted[0].json["content"].startswith("<@42>") and "files[0]" in posted[0].files


def test_without_a_bot_token_the_user_is_told_before_the_token_expires(
    signing_key, standin, backend, housekeeping
):
    body = command("imagine", [option("prompt", "a queue"), *SMALL])
    signed_post(signing_key, body)
    from datetime import timedelta

    from django.utils import timezone

    DiscordReply.objects.update(token_expires_at=timezone.now() + timedelta(seconds=60))
    housekeeping.drain()
    edit = standin.calls_to(r"/messages/@original")[-1]
    assert "/queue" in edit.json["content"] and DiscordReply.objects.get().warned_of_expiry


# --- buttons -------------------------------------------------------------------------------
@pytest.fixture
def result(signing_key, standin, backend, cluster, housekeeping):
    body = command("imagine", [option("prompt", "a red fox"), *SMALL])
    signed_post(signing_key, body)
    run_everything(cluster, housekeeping)
    final = standin.calls_to(r"/messages/@original")[-1]
    return {
        b["label"]: b["custom_id"] for row in final.json["components"] for b in row["components"]
    }


def click(signing_key, custom_id: str, user: str = "42"):
    return signed_post(
        signing_key, interaction(3, {"custom_id": custom_id, "component_type": 2}, user=user)
    )


@pytest.mark.parametrize("label, kind", [("Reroll", "txt2img"), ("Variations", "txt2img"),
                                         ("Upscale ×2 #1", "upscale")])  # fmt: skip
def test_a_button_runs_a_new_job_whose_result_reaches_discord(
    signing_key, standin, result, cluster, housekeeping, label, kind
):
    first = Job.objects.get()
    standin.reset()
    assert click(signing_key, result[label]).json() == {"type": 5}
    job = Job.objects.exclude(pk=first.pk).get()
    assert job.kind == kind and job.user_id == "discord:42"
    if label == "Variations":
        assert job.payload["subseed_strength"] == 0.3
    run_everything(cluster, housekeeping)
    assert Job.objects.get(pk=job.pk).status == "completed"
    final = standin.calls_to(r"/messages/@original")[-1]
    assert final.status == 200 and "files[0]" in final.files


def test_use_as_img2img_asks_for_a_prompt_then_runs_img2img(
    signing_key, standin, result, cluster, housekeeping
):
    modal = click(signing_key, result["Use as img2img"]).json()
    assert modal["type"] == 9 and modal["data"]["custom_id"] == result["Use as img2img"]
    submitted = interaction(5, {"custom_id": modal["data"]["custom_id"], "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "a blue fox"}]},
        {"type": 1, "components": [{"type": 4, "custom_id": "denoise", "value": "0.5"}]},
    ]})  # fmt: skip
    assert signed_post(signing_key, submitted).json() == {"type": 5}
    job = Job.objects.get(kind="img2img")
    assert (
        job.payload["prompt"].startswith("a blue fox") and job.payload["denoising_strength"] == 0.5
    )
    run_everything(cluster, housekeeping)
    assert Job.objects.get(pk=job.pk).status == "completed"


def test_a_strangers_click_is_refused_quietly(signing_key, result):
    answer = click(signing_key, result["Reroll"], user="99").json()
    assert answer["type"] == 4 and answer["data"]["flags"] == 64
    assert "not yours" in answer["data"]["content"]
    assert Job.objects.count() == 1


# --- the session, shared with REST -----------------------------------------------------------
def test_lora_add_then_imagine_applies_it_and_rest_sees_it(signing_key, standin, api, backend):
    Lora.objects.create(filename="fox_style.safetensors", name="Fox style", prompt_name="fox_style")
    add = command("lora", [{"name": "add", "type": 1, "options": [
        option("name", "fox_style.safetensors"), option("weight", 0.7, kind=10)]}])  # fmt: skip
    answer = signed_post(signing_key, add).json()
    assert "fox_style.safetensors" in answer["data"]["content"]
    assert api.get("/sessions/discord:42").json()["active_loras"] == {"fox_style.safetensors": 0.7}
    signed_post(signing_key, command("imagine", [option("prompt", "a fox"), *SMALL]))
    assert "<lora:fox_style:0.7>" in Job.objects.get().payload["prompt"]


def test_autocomplete_answers_at_most_25_choices(signing_key, db):
    for i in range(40):
        Lora.objects.create(
            filename=f"style_{i:02}.safetensors", name=f"Style {i}", prompt_name=f"style_{i:02}"
        )
    from loras_app.search import reindex

    reindex()
    data = {"name": "imagine", "type": 1,
            "options": [{"name": "lora", "type": 3, "value": "style", "focused": True}]}  # fmt: skip
    answer = signed_post(signing_key, interaction(4, data)).json()
    assert answer["type"] == 8 and 1 <= len(answer["data"]["choices"]) <= 25
    assert all(len(c["name"]) <= 100 for c in answer["data"]["choices"])


def test_queue_and_cancel(signing_key, standin, backend):
    signed_post(signing_key, command("imagine", [option("prompt", "a heron"), *SMALL]))
    listed = signed_post(signing_key, command("queue")).json()["data"]["content"]
    assert "queued" in listed and "position 1" in listed
    cancelled = signed_post(signing_key, command("cancel")).json()["data"]["content"]
    assert cancelled.startswith("Cancelled") and Job.objects.get().status == "cancelled"


# --- commands ------------------------------------------------------------------------------
def test_syncing_the_commands_prints_what_changed(standin, settings, capsys, db):
    settings.DISCORD_BOT_TOKEN = standin.bot_token
    call_command("discord_commands", "--sync", "--guild", "555")
    printed = capsys.readouterr().out
    assert "+ /imagine (new)" in printed and "Registered 7 commands" in printed
    call_command("discord_commands", "--guild", "555")
    assert "up to date" in capsys.readouterr().out


def test_progress_edits_carry_the_live_preview(
    signing_key, standin, sim, backend, cluster, housekeeping, settings
):
    settings.DISCORD_EDIT_SECONDS = 0
    settings.HUB_PREVIEW_INTERVAL = 0.1
    requests.post(f"{sim.url}/sim/faults", json={"step_ms": 40}, timeout=5).raise_for_status()
    body = command("imagine", [option("prompt", "a slow comet"), option("size", "512x512"),
                               option("steps", 60, kind=4)], nsfw=True)  # fmt: skip
    signed_post(signing_key, body)  # an age-restricted channel: nothing is withheld, so previews
    running = cluster.drain_in_thread()
    while running.is_alive():
        housekeeping.run_once()
        time.sleep(0.05)
    housekeeping.drain()
    edits = standin.calls_to(r"/messages/@original")
    previews = [c for c in edits if c.files.get("files[0]", ("",))[0] == "preview.webp"]
    assert previews and previews[0].json["content"].startswith("🎨")
    assert edits[-1].files["files[0]"][0].endswith(".jpg")  # the result replaced the preview


def test_a_flagged_picture_is_sent_as_a_spoiler_where_policy_says_spoiler(
    signing_key, standin, backend, cluster, housekeeping, settings
):
    settings.HUB_SAFETY_THRESHOLD = 0.0  # the detector flags every picture
    Community.objects.create(id="555", name="Guild", policy={"nsfw": "spoiler"})
    body = command("imagine", [option("prompt", "a statue"), *SMALL], nsfw=True)
    signed_post(signing_key, body)
    run_everything(cluster, housekeeping)
    final = standin.calls_to(r"/messages/@original")[-1]
    assert final.files["files[0]"][0].startswith("SPOILER_")
    assert final.json["attachments"][0]["filename"].startswith("SPOILER_")


def test_settings_presets_and_the_session(signing_key, standin, api, backend):
    answer = signed_post(signing_key, command("settings", [option("steps", 12, kind=4)])).json()
    assert "steps 12" in answer["data"]["content"]
    save = command("preset", [{"name": "save", "type": 1, "options": [option("name", "mine")]}])
    assert "mine" in signed_post(signing_key, save).json()["data"]["content"]
    listed = command("preset", [{"name": "list", "type": 1, "options": []}])
    assert "`mine`" in signed_post(signing_key, listed).json()["data"]["content"]
    preset_id = api.get("/presets/discord:42").json()["presets"][0]["id"]
    share = command(
        "preset", [{"name": "share", "type": 1, "options": [option("name", str(preset_id))]}]
    )
    assert "code is" in signed_post(signing_key, share).json()["data"]["content"]
    session = signed_post(signing_key, command("session")).json()["data"]["content"]
    assert "steps 12" in session and "No LoRAs" in session


def test_a_preset_typed_instead_of_chosen_is_a_clear_message(signing_key, standin, db):
    load = command("preset", [{"name": "load", "type": 1, "options": [option("name", "mine")]}])
    answer = signed_post(signing_key, load).json()["data"]["content"]
    assert "Pick one of your presets" in answer and "/preset list" in answer
