"""The web app in headless Chromium against a real hub (tests/webui/conftest.py): a person
signs in, generates with a LoRA picked from the autocomplete, watches it reach 100 %,
finds the picture in the gallery by a word of its prompt, favourites, reruns and deletes
it — on a phone-sized and a desktop-sized window. Another user's key sees none of it; the
step cap shows as the slider's maximum and as the hub's refusal; the first load is small
and quick."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from tests.webui.conftest import MAX_STEPS, needs_chromium

pytestmark = [needs_chromium, pytest.mark.timeout(300)]

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}


# --- helpers ---------------------------------------------------------------------------------
def wait(browser, condition, timeout: float = 20, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(
        lambda b: condition(b), message=what
    )


def css(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def all_css(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def shown(browser, selector) -> bool:
    found = all_css(browser, selector)
    return bool(found) and found[0].is_displayed()


def fits_the_screen(browser) -> bool:
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def ready(browser) -> bool:
    return browser.execute_script("return document.documentElement.dataset.ready === '1'")


def open_app(browser, hub, size=(1280, 800)):
    """/app in a viewport of exactly ``size`` (a window's size would include the browser's
    own frame); below 600 px wide, as a phone (the page's meta viewport applies)."""
    width, height = size
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(f"{hub['base']}/app")
    wait(browser, ready, what="the app never became ready")


def sign_in(browser, key: str) -> None:
    wait(browser, lambda b: shown(b, "#signin-key"), what="no sign-in form")
    css(browser, "#signin-key").send_keys(key)
    css(browser, "#signin-form button[type=submit]").click()
    wait(browser, lambda b: shown(b, "#page-generate"), what="generate page not shown")
    wait(browser, lambda b: all_css(b, "#checkpoint option"), what="no checkpoints")


def set_number(browser, selector: str, value) -> None:
    from selenium.webdriver.common.keys import Keys

    field = css(browser, selector)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(value))


def go(browser, page: str) -> None:
    css(browser, f'#nav a[data-page="{page}"]').click()
    wait(browser, lambda b: shown(b, f"#page-{page}"), what=f"{page} not shown")


def job_done(browser, card_index: int = 0):
    """The newest job card once it shows 100 % and its picture has loaded."""

    def check(b):
        cards = all_css(b, "#job-list .job")
        if len(cards) <= card_index:
            return None
        card = cards[card_index]
        if card.get_attribute("data-status") in ("failed", "cancelled"):
            raise AssertionError(card.text)
        loaded = b.execute_script(
            "return [...arguments[0].querySelectorAll('.results img')]"
            ".some(i => i.complete && i.naturalWidth > 0)",
            card,
        )
        pct = card.find_element("css selector", ".pct").text
        return card if (pct == "100 %" and loaded) else None

    return wait(browser, check, 60, "the job never reached 100 % with its picture")


def search_gallery(browser, word: str, count: int):
    from selenium.webdriver.common.keys import Keys

    field = css(browser, "#gallery-q")
    field.clear()
    field.send_keys(word, Keys.ENTER)
    return wait(
        browser,
        lambda b: (tiles := all_css(b, "#gallery-grid li")) and len(tiles) == count and tiles,
        what=f"the gallery never showed {count} picture(s) for {word!r}",
    )


def api(hub, key, method, path, **kwargs):
    headers = {"Authorization": f"Bearer {key}"}
    return requests.request(method, f"{hub['base']}{path}", headers=headers, timeout=10, **kwargs)


# --- the whole round, on a phone and on a desktop ---------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_a_person_generates_finds_favourites_reruns_and_deletes(
    browser, hub, make_key, screenshots, size
):
    from selenium.webdriver.common.keys import Keys

    user = f"web-{size}-{uuid.uuid4().hex[:6]}"
    key = make_key(user)
    word = f"zebra{uuid.uuid4().hex[:6]}"
    shot = lambda name: browser.save_screenshot(str(screenshots / f"{size}-{name}.png"))  # noqa: E731

    open_app(browser, hub, SIZES[size])
    shot("signin")
    sign_in(browser, key)
    assert key not in browser.current_url

    # A LoRA from the autocomplete, with the keyboard.
    search = css(browser, "#lora-search")
    search.send_keys("watercol")
    wait(browser, lambda b: shown(b, "#lora-options [role=option][data-value]"), what="no options")
    search.send_keys(Keys.ENTER)
    wait(browser, lambda b: all_css(b, "#lora-stack li[data-lora]"), what="LoRA not added")
    picked = css(browser, "#lora-stack li[data-lora]").get_attribute("data-lora")
    session = api(hub, key, "GET", f"/sessions/{user}").json()
    assert list(session["active_loras"]) == [picked]  # the session the Discord bot uses too

    css(browser, "#prompt").send_keys(f"a lighthouse in fog, {word}")
    set_number(browser, "#steps", 12)
    wait(browser, lambda b: "Estimated cost" in css(b, "#cost").text, what="no cost estimate")
    css(browser, "#generate").click()
    card = job_done(browser)
    assert card.find_element("css selector", "progress").get_attribute("value") == "1"
    assert fits_the_screen(browser)
    shot("generate")

    go(browser, "gallery")
    tiles = search_gallery(browser, word, 1)
    image_id = int(tiles[0].get_attribute("data-image"))
    assert fits_the_screen(browser)
    shot("gallery")
    tiles[0].find_element("css selector", "button").click()
    wait(browser, lambda b: css(b, "#image-dialog").get_attribute("open") is not None)
    assert word in css(browser, "#image-infotext").text
    assert picked.split(".")[0] in css(browser, "#image-infotext").text  # the LoRA was applied
    css(browser, "#act-favorite").click()
    wait(browser, lambda b: css(b, "#act-favorite").get_attribute("aria-pressed") == "true")
    assert api(hub, key, "GET", f"/images/{image_id}").json()["favorite"] is True
    shot("picture")

    css(browser, "#act-rerun").click()
    wait(browser, lambda b: shown(b, "#page-generate"), what="rerun did not show the job")
    job_done(browser, 0)
    assert len(all_css(browser, "#job-list .job")) == 2

    go(browser, "gallery")
    tiles = search_gallery(browser, word, 2)
    original = next(t for t in tiles if int(t.get_attribute("data-image")) == image_id)
    assert original.find_elements("css selector", ".star")  # the favourite is marked
    original.find_element("css selector", "button").click()
    wait(browser, lambda b: css(b, "#image-dialog").get_attribute("open") is not None)
    css(browser, "#act-delete").click()
    assert css(browser, "#act-delete").text == "Press again to delete"
    css(browser, "#act-delete").click()
    wait(browser, lambda b: len(all_css(b, "#gallery-grid li")) == 1, what="not deleted")
    assert api(hub, key, "GET", f"/images/{image_id}").status_code == 404

    go(browser, "models")
    wait(browser, lambda b: all_css(b, "#lora-list .card") and all_css(b, "#checkpoint-list .card"))
    assert fits_the_screen(browser)
    shot("models")


def test_another_users_key_cannot_see_or_touch_the_pictures(browser, hub, make_key):
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    alice_key, mallory_key = make_key(alice), make_key(f"mallory-{uuid.uuid4().hex[:6]}")
    made = api(hub, alice_key, "POST", "/generate/txt2img",
               json={"user_id": alice, "prompt": "a private garden", "steps": 4})  # fmt: skip
    assert made.status_code == 202, made.text
    deadline = time.monotonic() + 60
    while not (pictures := api(hub, alice_key, "GET", f"/users/{alice}/images").json()["results"]):
        assert time.monotonic() < deadline, "alice's picture never appeared"
        time.sleep(0.2)
    image_id = pictures[0]["id"]

    open_app(browser, hub)
    sign_in(browser, mallory_key)
    go(browser, "gallery")
    wait(browser, lambda b: "No pictures yet" in css(b, "#gallery-status").text)
    # The app's own API client, as a person would use it from the console.
    answers = browser.execute_async_script(
        """
        const [id, alice, done] = arguments;
        const { api } = await import('/static/webui/js/api.js');
        const out = {};
        for (const [name, path, method] of [
            ['detail', `/images/${id}`, 'GET'], ['favorite', `/images/${id}/favorite`, 'POST'],
            ['rerun', `/images/${id}/rerun`, 'POST'], ['delete', `/images/${id}`, 'DELETE'],
            ['list', `/users/${alice}/images`, 'GET']]) {
          try { await api(path, { method, body: method === 'POST' ? {} : undefined });
                out[name] = 200; }
          catch (err) { out[name] = err.status; }
        }
        done(out);
        """,
        image_id,
        alice,
    )
    assert answers == {"detail": 404, "favorite": 404, "rerun": 404, "delete": 404, "list": 403}
    still = api(hub, alice_key, "GET", f"/images/{image_id}").json()
    assert still["favorite"] is False


def test_the_step_cap_is_the_sliders_maximum_and_the_hubs_refusal(browser, hub, make_key):
    user = f"capped-{uuid.uuid4().hex[:6]}"
    key = make_key(user)
    saved = {"default_steps": 17, "preferred_sampler": "Euler a"}  # e.g. from the Discord bot
    assert api(hub, key, "PATCH", f"/sessions/{user}/settings", json=saved).status_code == 200
    open_app(browser, hub)
    sign_in(browser, key)
    wait(browser, lambda b: css(b, "#steps").get_attribute("value") == "17", what="not 17")
    assert css(browser, "#sampler_name").get_attribute("value") == "Euler a"
    assert css(browser, "#steps-range").get_attribute("max") == str(MAX_STEPS)
    assert f"At most {MAX_STEPS}" in css(browser, "#steps-hint").text
    css(browser, "#prompt").send_keys("a very detailed cathedral")
    set_number(browser, "#steps", MAX_STEPS + 1)
    assert css(browser, "#steps").get_attribute("value") == str(MAX_STEPS + 1)  # not clamped
    assert "Above your limit" in css(browser, "#steps-hint").text
    css(browser, "#generate").click()
    error = wait(browser, lambda b: css(b, "#gen-error").text, what="no refusal shown")
    assert f"at most {MAX_STEPS} steps" in error and str(MAX_STEPS + 1) in error, error
    assert all_css(browser, "#job-list .job") == []


def test_the_first_load_is_small_and_interactive_within_a_second(
    browser, hub, make_key, screenshots
):
    """Measured by the browser itself (Resource Timing), with its cache off: everything the
    page transfers until the app is ready, signed out and signed in (the Generate page with
    its API calls)."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    measure = """
        const nav = performance.getEntriesByType('navigation')[0];
        const resources = performance.getEntriesByType('resource');
        const ready = performance.getEntriesByName('app-ready')[0];
        return {bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
                requests: resources.length + 1, interactive_ms: ready.startTime,
                dom_interactive_ms: nav.domInteractive};
    """
    open_app(browser, hub)
    signed_out = browser.execute_script(measure)
    sign_in(browser, make_key(f"speedy-{uuid.uuid4().hex[:6]}"))
    browser.refresh()
    wait(browser, ready)
    wait(browser, lambda b: all_css(b, "#sampler_name option"))
    signed_in = browser.execute_script(measure)
    numbers = {"signed_out": signed_out, "signed_in": signed_in}
    (screenshots / "first-load.json").write_text(json.dumps(numbers, indent=2))
    print(f"\nfirst load: {numbers}")
    for figures in numbers.values():
        assert 0 < figures["bytes"] < 300_000, numbers
        assert figures["interactive_ms"] < 1000, numbers


def test_presets_save_load_and_share_and_controlnet_previews_then_runs(
    browser, hub, make_key, tmp_path, screenshots
):
    from PIL import Image
    from selenium.webdriver.support.ui import Select

    open_app(browser, hub)
    sign_in(browser, make_key(f"artist-{uuid.uuid4().hex[:6]}"))
    css(browser, "#prompt").send_keys("a castle on a hill")
    set_number(browser, "#steps", 9)
    css(browser, "#presets summary").click()
    css(browser, "#preset-name").send_keys("castle")
    Select(css(browser, "#preset-visibility")).select_by_value("code")
    css(browser, "#preset-save").click()
    status = wait(browser, lambda b: "Share code:" in (t := css(b, "#preset-status").text) and t)
    code = status.rsplit(" ", 1)[-1]

    css(browser, "#prompt").clear()
    css(browser, "#prompt").send_keys("something else")
    set_number(browser, "#steps", 30)
    Select(css(browser, "#preset-select")).select_by_visible_text("castle (code)")
    css(browser, "#preset-load").click()
    wait(browser, lambda b: "Loaded" in css(b, "#preset-status").text)
    assert css(browser, "#prompt").get_attribute("value") == "a castle on a hill"
    assert css(browser, "#steps").get_attribute("value") == "9"

    control = tmp_path / "control.png"
    Image.new("RGB", (128, 128), "white").save(control)
    css(browser, "#cn summary").click()
    css(browser, "#cn-image").send_keys(str(control))
    Select(css(browser, "#cn-module")).select_by_value("canny")
    canny = next(
        o for o in all_css(browser, "#cn-model option") if "canny" in o.text and "sd15" in o.text
    )
    Select(css(browser, "#cn-model")).select_by_visible_text(canny.text)
    css(browser, "#cn-preview").click()
    wait(browser, lambda b: b.execute_script(
        "const m = document.querySelector('#cn-map'); return !m.hidden && m.naturalWidth > 0"
    ), what="no preprocessor map")  # fmt: skip
    shot = screenshots / "desktop-controlnet.png"
    browser.save_screenshot(str(shot))
    css(browser, "#generate").click()
    job_done(browser)

    # Someone else copies the preset by its share code.
    css(browser, "#signout").click()
    sign_in(browser, make_key(f"friend-{uuid.uuid4().hex[:6]}"))
    # The page loads the presets list after sign-in: act once it has.
    wait(browser, lambda b: all_css(b, "#preset-select option"), what="presets not loaded")
    css(browser, "#presets summary").click()
    css(browser, "#preset-code").send_keys(code)
    assert css(browser, "#preset-code").get_attribute("value") == code
    css(browser, "#preset-copy").click()
    wait(browser, lambda b: "Copied “castle”" in css(b, "#preset-status").text)


@pytest.fixture
def slow_sim(hub):
    """The hub's simulator at 150 ms a step for one test (so a job can be watched)."""
    health = api(hub, hub["key"], "GET", "/health").json()
    url = next(b["url"] for b in health["backends"] if b["is_simulator"])
    requests.post(f"{url}/sim/faults", json={"step_ms": 150}, timeout=5).raise_for_status()
    yield url
    requests.post(f"{url}/sim/faults", json={"step_ms": 20}, timeout=5).raise_for_status()


def test_a_job_is_watched_queue_position_live_preview_and_cancel(
    browser, hub, make_key, slow_sim, screenshots
):
    open_app(browser, hub, SIZES["phone"])
    sign_in(browser, make_key(f"watcher-{uuid.uuid4().hex[:6]}"))
    css(browser, "#prompt").send_keys("a slow sunrise")
    set_number(browser, "#steps", MAX_STEPS)
    css(browser, "#generate").click()
    wait(browser, lambda b: len(all_css(b, "#job-list .job")) == 1)
    css(browser, "#generate").click()  # a second one waits behind the first
    wait(browser, lambda b: len(all_css(b, "#job-list .job")) == 2)
    second, first = all_css(browser, "#job-list .job")
    wait(browser, lambda b: "position" in second.find_element("css selector", ".state").text,
         what="no queue position")  # fmt: skip
    wait(browser, lambda b: "Running · step" in first.find_element("css selector", ".state").text)
    wait(browser, lambda b: b.execute_script(
        "const p = arguments[0].querySelector('.preview'); return !p.hidden && p.naturalWidth > 0",
        first), 30, "no live preview")  # fmt: skip
    running = float(first.find_element("css selector", "progress").get_attribute("value"))
    assert 0 < running < 1
    browser.save_screenshot(str(screenshots / "phone-watch.png"))
    for card in (second, first):
        card.find_element("css selector", ".cancel").click()
        wait(browser, lambda b, c=card: c.get_attribute("data-status") == "cancelled",
             what="not cancelled")  # fmt: skip
        assert card.find_element("css selector", ".state").text == "Cancelled"


def test_every_control_has_a_name_and_the_pages_work_by_keyboard(browser, hub, make_key):
    from selenium.webdriver.common.keys import Keys

    open_app(browser, hub)
    sign_in(browser, make_key(f"keyboard-{uuid.uuid4().hex[:6]}"))
    for page in ("generate", "gallery", "models"):
        go(browser, page)
        wait(browser, lambda b: b.execute_script("return document.documentElement.dataset.ready"))
        unnamed = browser.execute_script(
            """
            const page = document.querySelector(arguments[0]);
            return [...page.querySelectorAll('input, select, textarea, button')]
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                           && !e.textContent.trim())
              .map(e => e.outerHTML.slice(0, 80));
            """,
            f"#page-{page}",
        )
        assert unnamed == [], unnamed
    # From the address bar to the Generate button with Tab alone, focus always visible.
    go(browser, "generate")
    body = css(browser, "body")
    body.send_keys(Keys.TAB)
    seen = []
    for _ in range(60):
        active = browser.switch_to.active_element
        seen.append(active.get_attribute("id") or active.tag_name)
        if active.get_attribute("id") == "generate":
            break
        active.send_keys(Keys.TAB)
    assert "prompt" in seen and "lora-search" in seen and seen[-1] == "generate", seen


def test_an_operators_link_signs_a_person_in_once_and_leaves_no_token_in_the_url(
    browser, hub, manage
):
    user = f"linked-{uuid.uuid4().hex[:6]}"
    link = manage("app_link", user, "--url", hub["base"])
    browser.get(link)
    wait(browser, ready)
    wait(browser, lambda b: shown(b, "#page-generate"), what="the link did not sign in")
    assert "token" not in browser.current_url
    assert css(browser, "#who").text == f"Signed in as {user}"
    css(browser, "#signout").click()
    browser.get(link)  # a second time: spent
    wait(browser, ready)
    wait(browser, lambda b: "already used" in css(b, "#signin-error").text)
    assert shown(browser, "#page-signin")


def test_a_pictures_variations_upscale_and_remix_each_run_and_its_infotext_copies(
    browser, hub, make_key
):
    user = f"remixer-{uuid.uuid4().hex[:6]}"
    key = make_key(user)
    open_app(browser, hub)
    css(browser, "#signin-key").send_keys("hub_not-a-key")
    css(browser, "#signin-form button[type=submit]").click()
    wait(browser, lambda b: "does not know this key" in css(b, "#signin-error").text)
    css(browser, "#signin-key").clear()
    sign_in(browser, key)
    css(browser, "#prompt").send_keys("an orchard in spring")
    set_number(browser, "#steps", 6)
    css(browser, "#generate").click()
    job_done(browser)

    def open_picture():
        go(browser, "gallery")
        tiles = wait(browser, lambda b: all_css(b, "#gallery-grid li"), what="empty gallery")
        tiles[-1].find_element("css selector", "button").click()  # the first picture made
        wait(browser, lambda b: css(b, "#image-dialog").get_attribute("open") is not None)

    open_picture()
    css(browser, "#act-copy").click()
    wait(browser, lambda b: css(b, "#toast").text == "Infotext copied.")
    for number, (button, images) in enumerate(
        [("#act-variations", 4), ("#act-upscale", 1), ("remix", 1)], start=2
    ):
        if button == "remix":
            css(browser, "#remix-prompt").send_keys("an orchard in autumn")
            css(browser, "#remix-form button[type=submit]").click()
        else:
            css(browser, button).click()
        wait(browser, lambda b, n=number: len(all_css(b, "#job-list .job")) == n)
        card = job_done(browser, 0)
        assert len(card.find_elements("css selector", ".results img")) == images, button
        open_picture()
    kinds = [job["kind"] for job in api(hub, key, "GET", f"/jobs?user_id={user}").json()["results"]]
    assert sorted(kinds) == ["img2img", "txt2img", "txt2img", "upscale"], kinds


def test_the_gallery_scrolls_on_to_the_next_page(browser, hub, make_key):
    """36 pictures: the first page holds 30, scrolling down follows the API's cursor."""
    user = f"scroller-{uuid.uuid4().hex[:6]}"
    key = make_key(user)
    body = {"user_id": user, "prompt": "a pebble", "steps": 1, "width": 64, "height": 64}
    for _ in range(3):
        made = api(hub, key, "POST", "/generate/txt2img", json={**body, "batch_size": 12})
        assert made.status_code == 202, made.text
    deadline = time.monotonic() + 90
    everything = f"/users/{user}/images?page_size=100"
    while len(api(hub, key, "GET", everything).json()["results"]) < 36:
        assert time.monotonic() < deadline, "the pictures were not made"
        time.sleep(0.3)
    open_app(browser, hub, SIZES["phone"])
    sign_in(browser, key)
    go(browser, "gallery")
    wait(browser, lambda b: len(all_css(b, "#gallery-grid li")) >= 30, what="no first page")
    for _ in range(10):
        browser.execute_script("document.querySelector('#gallery-more').scrollIntoView()")
        if len(all_css(browser, "#gallery-grid li")) == 36:
            break
        time.sleep(0.3)
    assert len(all_css(browser, "#gallery-grid li")) == 36
    assert css(browser, "#gallery-status").text == "36 pictures"
    pages = browser.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name)"
        ".filter(n => n.includes('/images?'))"
    )
    assert len(pages) == 2 and "cursor=" in pages[1] and "page_size=30" in pages[0], pages


def test_a_service_key_signs_in_only_with_the_user_it_acts_for(browser, hub):
    open_app(browser, hub)
    css(browser, "#signin-key").send_keys(hub["key"])
    css(browser, "#signin-form button[type=submit]").click()
    wait(browser, lambda b: "service key" in css(b, "#signin-error").text)
    assert browser.execute_script("return sessionStorage.length") == 0
    css(browser, "#signin-user").send_keys("operator-sees-as-bob")
    css(browser, "#signin-form button[type=submit]").click()
    wait(browser, lambda b: shown(b, "#page-generate"), what="generate page not shown")
    assert css(browser, "#who").text == "Signed in as operator-sees-as-bob"
