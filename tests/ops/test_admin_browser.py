"""The admin in a real headless browser (Chromium + chromedriver through Selenium): the
fuzzy LoRA search, a read-only job, the dashboard, and lists that fit a 1400 px screen.

One browser for the whole module; each test logs in again (the database is emptied
between live-server tests)."""

from __future__ import annotations

import shutil

import pytest
from django.utils import timezone

from backends.models import Backend
from generation_app.models import Job, JobImage
from tests.ops.conftest import CATALOG, make_lora

INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    not (CHROMEDRIVER and CHROMIUM),
    reason=f"needs Chromium and chromedriver for the browser tests: {INSTALL}",
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def admin_browser(browser, live_server, django_user_model):
    """The browser, logged in to the admin as a superuser."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ops")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page has the same header: wait for the index before reading it.
    WebDriverWait(browser, 10).until(lambda b: "/login/" not in b.current_url)
    assert browser.find_element(By.ID, "site-name").text == "A1111 Hub"
    browser.base = live_server.url
    return browser


def fits_the_screen(browser) -> bool:
    """No horizontal scrolling at the window's width."""
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def visible(browser, by, what) -> list:
    return [e for e in browser.find_elements(by, what) if e.is_displayed()]


def test_the_lora_search_finds_a_lora_despite_a_typo(admin_browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    for row in CATALOG:
        make_lora(*row)
    admin_browser.get(f"{admin_browser.base}/admin/loras_app/lora/")
    assert fits_the_screen(admin_browser)
    admin_browser.find_element(By.ID, "searchbar").send_keys("watercolr" + Keys.ENTER)
    # The search is a new page: read its rows, not the old page's (gone under our feet).
    WebDriverWait(admin_browser, 10).until(
        lambda b: (
            "q=watercolr" in b.current_url
            and b.execute_script("return document.readyState") == "complete"
        )
    )
    rows = admin_browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    names = [row.find_element(By.CSS_SELECTOR, "th").text for row in rows]
    assert len(names) == 2 and all("Watercolor" in name for name in names), names
    assert fits_the_screen(admin_browser)


def test_a_job_is_read_only(admin_browser):
    from selenium.webdriver.common.by import By

    backend = Backend.objects.create(name="gpu-1", url="http://127.0.0.1:9")
    now = timezone.now()
    job = Job.objects.create(
        user_id="alice",
        kind="txt2img",
        status=Job.Status.COMPLETED,
        backend=backend,
        started_at=now,
        finished_at=now,
        message="Generated 1 image(s) in 2.0 s.",
    )
    JobImage.objects.create(job=job, index=0, file="x.png", width=8, height=8)
    admin_browser.get(f"{admin_browser.base}/admin/generation_app/job/")
    assert fits_the_screen(admin_browser)
    admin_browser.find_element(By.LINK_TEXT, str(job.pk)[:8]).click()
    assert "alice" in admin_browser.find_element(By.ID, "content-main").text
    admin_browser.implicitly_wait(0)
    try:
        for selector in ("input[name=_save]", "input[name=_continue]", "input[name=user_id]"):
            assert visible(admin_browser, By.CSS_SELECTOR, selector) == [], selector
        assert visible(admin_browser, By.PARTIAL_LINK_TEXT, "Add another") == []
    finally:
        admin_browser.implicitly_wait(5)
    assert admin_browser.find_element(By.CSS_SELECTOR, "a.deletelink")


def test_the_dashboard_shows_a_backend_and_a_queued_job(admin_browser):
    from selenium.webdriver.common.by import By

    Backend.objects.create(name="gpu-1", url="http://127.0.0.1:9", loaded_checkpoint="sdxl")
    Job.objects.create(user_id="bob", kind="txt2img", checkpoint="anime.safetensors")
    admin_browser.get(f"{admin_browser.base}/admin/")
    admin_browser.find_element(By.LINK_TEXT, "Hub dashboard").click()
    assert admin_browser.find_element(By.ID, "hub-queued").text == "1"
    users = admin_browser.find_element(By.ID, "hub-queue-users").text
    assert "bob" in users
    assert "anime.safetensors" in admin_browser.find_element(By.ID, "hub-queue-checkpoints").text
    backends = admin_browser.find_element(By.ID, "hub-backends").text
    assert "gpu-1" in backends and "healthy" in backends and "sdxl" in backends
    assert fits_the_screen(admin_browser)
