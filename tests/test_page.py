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

pytestmark = pytest.mark.slow  # a real server and a browser: `make test-all` (CI) runs them

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
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(server, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 760})
    page.goto(server[0])
    expect(page.locator("#model option")).to_have_count(len(SERVED))  # the picker offers what is served
    assert page.locator("#model").input_value() == "ja"  # every kana and kanji, the default
    page.select_option("#model", "hiragana")
    yield page
    page.close()


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
    assert page.locator("#guesses li").count() == 10  # up to 10 candidates to pick from
    glyphs = page.locator("#guesses .glyph").all_inner_texts()
    assert glyphs[0] == "あ", glyphs
    assert page.locator("#question").inner_text() == "Was it あ (a)?"
    assert "a · hiragana · U+3042" in page.locator("#guesses .meta").first.inner_text()
    assert page.locator("#guesses li").first.get_attribute("aria-label").startswith("1: あ (a), ")

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
    expect(page.locator("#text")).to_have_text("あ")  # saved and written: the writer does not lose it
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


# --------------------------------------------------------------------------- writing with the page

def touch_draw(page, path: Path, cdp) -> dict:
    """Draw a stroke JSON file with a finger (touch events through Chromium's DevTools protocol, as a
    phone sends them) and return the answer to the last stroke."""
    doc = json.loads(path.read_text())
    box = page.locator("#pad").bounding_box()
    sx, sy = box["width"] / doc["canvas"]["width"], box["height"] / doc["canvas"]["height"]
    at = lambda x, y: [{"x": box["x"] + x * sx, "y": box["y"] + y * sy}]  # noqa: E731
    for k, stroke in enumerate(doc["strokes"], start=1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(*stroke[0])})
        for x, y in stroke[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": at(x, y)})
        if k < len(doc["strokes"]):
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    with page.expect_response(lambda r: r.url.endswith("/api/predict")) as answer:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    body = answer.value.json()
    expect(page.locator("#status")).to_contain_text(f"{body['elapsed_ms']:.1f} ms")
    return body


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_write_a_word_by_picking_guesses(server, browser, size, tmp_path):
    """Write あね by picking guesses (a click, a key), fix the last character, undo a stroke, clear;
    the page never scrolls sideways, and on a phone the text, the pad and three guesses fit the screen."""
    url, db = server
    viewport = {"width": 1280, "height": 800} if size == "desktop" else {"width": 390, "height": 844}
    context = browser.new_context(viewport=viewport, has_touch=size == "phone", is_mobile=size == "phone")
    page = context.new_page()
    page.goto(url)
    cdp = context.new_cdp_session(page) if size == "phone" else None
    write = (lambda f: touch_draw(page, f, cdp)) if cdp else (lambda f: draw(page, f))
    samples = sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    assert write(REPO / "examples" / "strokes-あ.json")["top"][0]["char"] == "あ"
    assert page.locator("#guesses li").count() == 10
    if size == "phone":
        bottom = page.locator("#guesses li").nth(2).bounding_box()
        assert bottom["y"] + bottom["height"] <= viewport["height"]  # three guesses without scrolling
        assert page.locator("#text").bounding_box()["y"] >= 0 and page.locator("#pad").bounding_box()["y"] >= 0
        for button in ("#undo", "#clear", "#backspace", "#copy"):
            assert page.locator(button).bounding_box()["height"] >= 44
        page.locator("#guesses li").first.tap()
    else:
        page.locator("#guesses li").first.click()
    expect(page.locator("#text")).to_have_text("あ")
    assert page.locator("#guesses li").count() == 0  # the pad is cleared for the next character

    write(REPO / "examples" / "strokes-ね.json")
    page.keyboard.press("1")
    expect(page.locator("#text")).to_have_text("あね")
    # fix the last character: delete it, draw it again, pick another guess
    page.locator("#backspace").click()
    expect(page.locator("#text")).to_have_text("あ")
    answer = write(REPO / "examples" / "strokes-ね.json")
    page.keyboard.press("2")
    expect(page.locator("#text")).to_have_text("あ" + answer["top"][1]["char"])
    for _ in range(50):  # a pick's sample is saved in the background
        rows = sqlite3.connect(db).execute("SELECT label, guess FROM samples ORDER BY id").fetchall()[samples:]
        if len(rows) >= 3:
            break
        page.wait_for_timeout(100)
    assert rows == [("あ", "あ"), ("ね", "ね"), (answer["top"][1]["char"], "ね")]  # a pick is a confirmed label

    # Ctrl+Z takes back the last stroke (the guesses follow), Esc clears
    write(REPO / "examples" / "strokes-学.json")
    with page.expect_request(lambda r: r.url.endswith("/api/predict")) as again:
        page.keyboard.press("Control+z")
    drawn = len(json.loads((REPO / "examples" / "strokes-学.json").read_text())["strokes"])
    assert len(again.value.post_data_json["strokes"]) == drawn - 1
    page.keyboard.press("Escape")
    expect(page.locator("#guesses li")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.screenshot(path=str(tmp_path / f"write-{size}.png"))
    if os.environ.get("FUDE_SCREENSHOTS"):
        shutil.copy(tmp_path / f"write-{size}.png", Path(os.environ["FUDE_SCREENSHOTS"]) / f"write-{size}.png")
    context.close()


def test_settings_stay_stale_guesses_go_and_there_is_an_icon(server, browser):
    url, _ = server
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#model option")).to_have_count(len(SERVED))
    page.select_option("#model", "hiragana")
    page.select_option("#script", "kana")
    draw(page, REPO / "examples" / "strokes-あ.json")
    # a filter the model cannot meet: the answer is refused and the old guesses are not left standing
    with page.expect_response(lambda r: r.url.endswith("/api/predict")) as refused:
        page.locator("#chars").fill("ABC")
    assert refused.value.status == 422
    expect(page.locator("#guesses li")).to_have_count(0)
    assert page.locator("#confirm").is_hidden() and "ABC" in page.locator("#status").inner_text()
    page.reload()
    expect(page.locator("#model")).to_have_value("hiragana")  # remembered by this browser
    assert page.locator("#script").input_value() == "kana" and page.locator("#chars").input_value() == "ABC"
    page.locator("#chars").fill("")
    icon = page.request.get(url + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    context.close()


def test_write_a_line_and_fix_one_character(server, browser, mirror):
    """Line mode: a word written in a row is read whole; one character's guess is changed; Use writes it."""
    from fude.strokes.kanjivg import load_templates
    from fude.strokes.synth import SynthConfig, line_drawing

    url, _ = server
    strokes, groups = line_drawing(load_templates(data_dir=mirror, chars="学校"), "学校", 0,
                                   SynthConfig(), spacing=(0.3, 0.4))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#model option")).to_have_count(len(SERVED))
    page.select_option("#model", "ja")
    page.locator("#line").check()
    box = page.locator("#pad").bounding_box()
    scale = box["height"] * 0.8 / 100  # the line's squares are 100 units high
    for k, s in enumerate(strokes):
        page.mouse.move(box["x"] + 20 + s[0][0] * scale, box["y"] + 10 + s[0][1] * scale)
        page.mouse.down()
        for x, y in s[1:]:
            page.mouse.move(box["x"] + 20 + x * scale, box["y"] + 10 + y * scale)
        if k < len(strokes) - 1:
            page.mouse.up()
    with page.expect_response(lambda r: r.url.endswith("/api/predict-line")) as answer:
        page.mouse.up()
    line = answer.value.json()
    assert line["text"] == "学校" and [c["strokes"] for c in line["characters"]] == groups
    expect(page.locator("#reading button:not(#use)")).to_have_count(2)
    page.locator("#reading button").nth(0).click()
    page.locator("#guesses li").nth(1).click()  # the first character: its second guess instead
    second = line["characters"][0]["top"][1]["char"]
    expect(page.locator("#reading button").nth(0)).to_have_text(second)
    page.locator("#use").click()
    expect(page.locator("#text")).to_have_text(second + "校")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.locator("#line").uncheck()
    context.close()


def test_the_api_reference_page_shows_code_not_markup(server, browser):
    """/docs draws the API from /openapi.json: the routes' ``code`` spans show as code, never as
    raw backticks, and every route is there."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url + "/docs")
    paths = page.request.get(url + "/openapi.json").json()["paths"]
    expect(page.locator("#api h2")).to_have_count(sum(len(ops) for ops in paths.values()))
    text = page.locator("#api").inner_text()
    assert "``" not in text and "request_id" in text
    assert "request_id" in page.locator("#api p.muted code").all_inner_texts()
    page.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_page_learns_its_writers_hand_and_forgets_it(server, browser, size, tmp_path):
    """Picks teach the server this browser's hand (its own random writer id, sent with every read):
    after two picks of another character for the same drawing, the next reading of it puts that
    character first; another browser is not affected; "Forget my hand" forgets, and the reading is
    the network's again."""
    url, db = server
    viewport = {"width": 1280, "height": 800} if size == "desktop" else {"width": 390, "height": 844}
    context = browser.new_context(viewport=viewport, has_touch=size == "phone", is_mobile=size == "phone")
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#memory-count")).to_have_text("Learns your hand as you pick.")
    cdp = context.new_cdp_session(page) if size == "phone" else None
    write = (lambda f: touch_draw(page, f, cdp)) if cdp else (lambda f: draw(page, f))
    drawing = REPO / "examples" / "strokes-学.json"
    first = write(drawing)
    assert first["top"][0]["char"] == "学"
    other = first["top"][1]["char"]
    for _ in range(2):  # the writer insists: this is how they write `other`
        page.locator("#guesses li").filter(has=page.locator(".glyph", has_text=other)).first.click()
        expect(page.locator("#guesses li")).to_have_count(0)
        if _ == 0:
            write(drawing)
    expect(page.locator("#memory-count")).to_have_text("Remembers 2 of your characters.")
    with page.expect_request(lambda r: r.url.endswith("/api/predict")) as sent:
        learnt = write(drawing)
    writer = sent.value.post_data_json["writer"]
    assert len(writer) >= 8 and learnt["top"][0]["char"] == other
    stranger = browser.new_context(viewport=viewport).new_page()  # another browser, another writer
    stranger.goto(url)
    assert draw(stranger, drawing)["top"][0]["char"] == "学"
    stranger.context.close()
    if size == "phone":
        assert page.locator("#forget").bounding_box()["height"] >= 44
    page.screenshot(path=str(tmp_path / f"memory-{size}.png"), full_page=True)
    if os.environ.get("FUDE_SCREENSHOTS"):
        shutil.copy(tmp_path / f"memory-{size}.png", Path(os.environ["FUDE_SCREENSHOTS"]) / f"memory-{size}.png")
    page.keyboard.press("Escape")
    page.locator("#forget").click()
    expect(page.locator("#status")).to_have_text("Forgot 2 of your characters.")
    expect(page.locator("#memory-count")).to_have_text("Learns your hand as you pick.")
    assert write(drawing)["top"][0]["char"] == "学"
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM writer_memory WHERE writer = ?", (writer,)).fetchone()
    assert rows[0] == 0
    context.close()
