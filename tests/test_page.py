"""The drawing page end to end: the real `fude serve` and headless Chromium driven by Playwright.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` Python package (the browser
download step of Playwright is not used). Without them the tests are skipped, unless
``FUDE_REQUIRE_BROWSER=1`` (set by CI), where they fail instead.
"""

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import REPO, free_port, start_server

CHROMIUM = os.environ.get("FUDE_CHROMIUM", "/usr/bin/chromium")
# as root in a closed network: no sandbox, no GPU, no background connections that would be refused
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install playwright)")
    if not shutil.which(CHROMIUM):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        if os.environ.get("FUDE_REQUIRE_BROWSER") == "1":
            pytest.fail("browser tests required but missing: " + "; ".join(missing))
        pytest.skip("browser tests need " + " and ".join(missing))


SERVED = ("ja", "hiragana", "hiragana-seq", "kmnist")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db, port = tmp_path_factory.mktemp("page") / "samples.sqlite", free_port()
    proc = start_server(db, port, ",".join(SERVED))
    yield f"http://127.0.0.1:{port}", db
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page(server):
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.goto(server[0])
        expect(page.locator("#model option")).to_have_count(len(SERVED))  # the picker offers what is served
        assert page.locator("#model").input_value() == "ja"  # every kana and kanji, the default
        page.select_option("#model", "hiragana")
        yield page
        browser.close()


def expect(locator):
    """Playwright's web-first assertion (polls with its own selector engine, which the page's
    Content-Security-Policy allows, unlike a JS string given to wait_for_function)."""
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def draw(page, path: Path) -> dict:
    """Draw a stroke JSON file on the page's canvas with mouse moves (the canvas scaled to the
    drawing's) and return the answer the page shows for the whole drawing.

    The page may also ask while the pen is still down (after a 120 ms pause, which a busy machine
    makes), so the answer waited for is the one to the request sent when the last stroke ends,
    and it is waited for until the page shows it."""
    doc = json.loads(path.read_text())
    box = page.locator("#pad").bounding_box()
    sx, sy = box["width"] / doc["canvas"]["width"], box["height"] / doc["canvas"]["height"]
    for k, stroke in enumerate(doc["strokes"], start=1):
        (x0, y0), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
        if k < len(doc["strokes"]):
            page.mouse.up()
    with page.expect_response(lambda r: r.url.endswith("/api/predict")) as answer:
        page.mouse.up()
    assert answer.value.status == 200, answer.value.text()
    assert len(answer.value.request.post_data_json["strokes"]) == len(doc["strokes"])
    body = answer.value.json()
    # the page runs under its own Content-Security-Policy (no eval): wait with a locator, not a JS string
    expect(page.locator("#status")).to_contain_text(f"{body['elapsed_ms']:.1f} ms")
    return body


def test_draw_see_the_guess_confirm_and_find_the_sample(page, server, tmp_path):
    url, db = server
    assert page.title().startswith("fude")
    answer = draw(page, REPO / "examples" / "strokes-あ.json")
    assert answer["top"][0]["char"] == "あ"
    assert page.locator("#guesses li").count() == 5
    glyphs = page.locator("#guesses .glyph").all_inner_texts()
    assert glyphs[0] == "あ", glyphs
    assert page.locator("#question").inner_text() == "Was it あ (a)?"
    assert "a · hiragana · U+3042" in page.locator("#guesses .meta").first.inner_text()
    assert page.locator("#guesses li").first.get_attribute("aria-label").startswith("あ (a), ")

    # the glyphs are drawn in a Japanese font (the machine's, else the one fude serves), not as empty boxes
    page.evaluate("document.fonts.ready")
    assert page.evaluate("document.fonts.check('48px fude-jp', 'あ')")
    width = page.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
        c.font = '48px ' + getComputedStyle(document.body).fontFamily;
        return [c.measureText('あ').width, c.measureText('\\u{10FFFD}').width]; }""")
    assert width[0] != width[1]  # a kana is not drawn as the missing-glyph box

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot))
    if os.environ.get("FUDE_SCREENSHOTS"):  # keep it to look at
        shutil.copy(shot, Path(os.environ["FUDE_SCREENSHOTS"]) / "page-あ.png")
    from PIL import Image

    picture = Image.open(shot).convert("L")
    assert picture.size == (1000, 760) and picture.getextrema()[0] < 60  # dark ink and glyphs were painted

    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0  # nothing saved unasked
    page.locator("#yes").click()
    expect(page.locator("#status")).to_contain_text("Saved sample")
    assert page.locator("#status").inner_text().endswith("as あ. Thank you!")
    rows = sqlite3.connect(db).execute("SELECT label, guess, model, strokes FROM samples").fetchall()
    assert len(rows) == 1 and rows[0][:3] == ("あ", "あ", "hiragana") and len(json.loads(rows[0][3])) == 3
    assert page.locator("#guesses li").count() == 0 and page.locator("#confirm").is_hidden()


def test_correct_a_wrong_guess_by_keyboard(page, server):
    """A guess can be corrected with the keyboard alone: type the character, tab to the button, press Enter."""
    url, db = server
    draw(page, REPO / "examples" / "strokes-ね.json")
    assert not page.locator("#confirm").is_hidden()
    page.locator("#label").focus()
    page.keyboard.type("ぬ")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "correct"
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("as ぬ")
    labels = [r[0] for r in sqlite3.connect(db).execute("SELECT label FROM samples ORDER BY id")]
    assert labels[-1] == "ぬ"


def test_the_sequence_model_reads_the_pen_path(page, server):
    """Picking `hiragana-seq` sends the same strokes to the sequence model, which reads them."""
    page.locator("#clear").click()
    page.select_option("#model", "hiragana-seq")
    try:
        with page.expect_request(lambda r: r.url.endswith("/api/predict")) as request:
            answer = draw(page, REPO / "examples" / "strokes-あ.json")
        assert request.value.post_data_json["model"] == "hiragana-seq"
        assert answer["top"][0]["char"] == "あ"
    finally:
        page.locator("#clear").click()
        page.select_option("#model", "hiragana")


def test_a_kanji_with_the_script_picker(page, server):
    """The `ja` model reads a kanji drawn on the page; the script picker sends `script` and every
    guess shown is of that script; the "Only" field narrows the guesses to its characters."""
    page.locator("#clear").click()
    page.select_option("#model", "ja")
    page.select_option("#script", "kanji")
    try:
        with page.expect_request(lambda r: r.url.endswith("/api/predict")) as request:
            answer = draw(page, REPO / "examples" / "strokes-学.json")
        assert request.value.post_data_json["model"] == "ja" and request.value.post_data_json["script"] == "kanji"
        assert answer["top"][0]["char"] == "学" and {g["script"] for g in answer["top"]} == {"kanji"}
        assert page.locator("#guesses .glyph").first.inner_text() == "学"
        assert "kanji · U+5B66" in page.locator("#guesses .meta").first.inner_text()
        with page.expect_response(lambda r: r.url.endswith("/api/predict")) as narrowed:
            page.locator("#chars").fill("字学子")
        expect(page.locator("#guesses li")).to_have_count(3)
        assert {g["char"] for g in narrowed.value.json()["top"]} == set("字学子")
    finally:
        page.locator("#chars").fill("")
        page.locator("#clear").click()
        page.select_option("#script", "all")
        page.select_option("#model", "hiragana")
