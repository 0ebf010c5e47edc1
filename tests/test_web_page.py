"""The page at ``/`` in headless Chromium: self-contained assets, the model list, uploads.

Every expected transcript comes from the API itself for the same file (never a fixed
string), so the tests hold for any model, trained or not.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import requests

from test_server_support import speech_files, upload
from test_web_support import (DESKTOP, PHONE, browser, expect, mic_wav, open_page, playwright, shots,  # noqa: F401
                              wait_models, web_server)


class InlineFinder(HTMLParser):
    """Inline scripts, style attributes/elements and on* handlers: what a strict CSP blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
        for name in ("src", "href"):
            if names.get(name) and tag in ("script", "link", "img"):
                self.sources.append(names[name])


def api_transcript(server, path: Path) -> dict:
    response = upload(server, path)
    assert response.status_code == 200, response.text
    return response.json()


def openai_format(server, path: Path, fmt: str) -> str:
    with open(path, "rb") as f:
        response = requests.post(f"{server.url}/v1/audio/transcriptions", files={"file": (path.name, f)},
                                 data={"response_format": fmt}, timeout=120)
    assert response.status_code == 200, response.text
    return response.text


def wait_done(page) -> None:
    # A locator wait, not wait_for_function: the page's CSP forbids the eval that one needs.
    expect(page.locator("#upload-status")).to_have_text(re.compile(r"^Done"), timeout=60000)


def shown_segments(page, panel: str) -> list[str]:
    return page.locator(f"#{panel} .segment .text").all_inner_texts()


def test_page_is_self_contained_and_lists_the_models(web_server, browser, shots):
    html = requests.get(web_server.url + "/", timeout=10).text
    finder = InlineFinder()
    finder.feed(html)
    assert not finder.found, finder.found
    assert finder.sources and all(src.startswith("/static/") for src in finder.sources), finder.sources

    page, watch = open_page(browser.new_context(viewport=DESKTOP), web_server.url)
    wait_models(page)
    api = requests.get(web_server.url + "/api/models", timeout=10).json()
    options = page.locator("#model option")
    assert options.evaluate_all("os => os.map(o => o.value)") == [m["name"] for m in api["models"]]
    assert page.locator("#model").input_value() == api["default"]
    # The stylesheet applied (a card has its border radius) and the dictation button is reachable by keyboard.
    assert page.locator("#upload").evaluate("e => getComputedStyle(e).borderTopLeftRadius") != "0px"
    page.focus("#model")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "dictate"
    assert page.get_by_role("button", name="Start dictation").is_enabled()
    page.screenshot(path=str(shots / "empty.png"))
    watch.check()
    page.context.close()


def test_upload_from_the_file_picker_shows_the_api_transcript_and_exports_it(web_server, browser, shots,
                                                                             dev_speech):
    path = speech_files(dev_speech)[-1]
    expected = api_transcript(web_server, path)
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page, watch = open_page(context, web_server.url)
    wait_models(page)
    # Slow the upload down so the progress bar has something to show.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20, "downloadThroughput": -1,
                                                  "uploadThroughput": path.stat().st_size})
    page.evaluate("""() => { window.__progress = [];
        const bar = document.querySelector('#upload progress');
        new MutationObserver(() => window.__progress.push(bar.hasAttribute('value') ? bar.value : 'busy'))
            .observe(bar, {attributes: true}); }""")
    page.set_input_files("#file-input", str(path))
    wait_done(page)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    progress = page.evaluate("window.__progress")
    assert any(isinstance(v, float) and 0 < v < 1 for v in progress), progress
    assert "busy" in progress, progress  # indeterminate while the server transcribes

    assert shown_segments(page, "upload") == [s["text"] for s in expected["segments"] if s["text"]]
    assert page.locator("#upload .segment .time").count() == len(shown_segments(page, "upload"))
    assert expected["model"] in page.inner_text("#upload .summary")
    page.screenshot(path=str(shots / "upload-result.png"))

    page.get_by_role("button", name="Copy").nth(1).click()
    assert page.evaluate("navigator.clipboard.readText()") == expected["text"]
    for fmt, openai_name in (("txt", "text"), ("srt", "srt"), ("vtt", "vtt")):
        with page.expect_download() as info:
            page.locator(f'#upload [data-format="{fmt}"]').click()
        download = info.value
        assert download.suggested_filename == f"{path.stem}.{fmt}"
        assert Path(download.path()).read_text() == openai_format(web_server, path, openai_name), fmt
    watch.check()
    context.close()


def test_drag_and_drop_upload(web_server, browser, dev_speech):
    path = speech_files(dev_speech)[0]
    expected = api_transcript(web_server, path)
    page, watch = open_page(browser.new_context(viewport=DESKTOP), web_server.url)
    wait_models(page)
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate("""([name, data]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: 'audio/wav'}));
        const zone = document.querySelector('.dropzone');
        for (const type of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [path.name, data])
    wait_done(page)
    assert shown_segments(page, "upload") == [s["text"] for s in expected["segments"] if s["text"]]
    watch.check()
    page.context.close()


def test_an_api_error_is_shown_in_words(web_server, browser, shots, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is a shopping list, not a recording\n")
    with open(bogus, "rb") as f:
        api = requests.post(f"{web_server.url}/api/transcribe", files={"file": (bogus.name, f)}, timeout=30)
    assert api.status_code == 415
    message = api.json()["error"]["message"]

    page, watch = open_page(browser.new_context(viewport=DESKTOP), web_server.url,
                            allowed_console=("415",))  # Chromium logs the failed request itself
    wait_models(page)
    page.set_input_files("#file-input", str(bogus))
    error = page.locator("#upload-error")
    error.wait_for(state="visible", timeout=30000)
    assert message in error.inner_text() and bogus.name in error.inner_text()
    assert page.locator("#upload .segment").count() == 0
    assert page.locator("#upload .dropzone").is_visible()  # ready for another file
    page.screenshot(path=str(shots / "upload-error.png"))
    watch.check()
    page.context.close()


def test_phone_layout_has_no_sideways_scrolling(web_server, browser, shots, dev_speech):
    path = speech_files(dev_speech)[0]
    page, watch = open_page(browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                                device_scale_factor=2, color_scheme="dark"), web_server.url)
    wait_models(page)
    page.set_input_files("#file-input", str(path))
    wait_done(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.get_by_role("button", name="Start dictation").bounding_box()
    assert button["height"] >= 44 and button["width"] > PHONE["width"] / 2  # a big thumb target
    page.screenshot(path=str(shots / "phone-dark.png"), full_page=True)
    watch.check()
    page.context.close()


def test_the_worklet_resampler_keeps_speech_band_and_removes_aliases(web_server, browser):
    """The capture worklet's resampler (pure JS), run in the browser: 48 and 44.1 kHz to 16 kHz."""
    page, watch = open_page(browser.new_context(), web_server.url)
    result = page.evaluate("""async () => {
        const { Resampler } = await import('/static/js/resampler.js');
        const tone = (rate, freq, seconds) => Float32Array.from({length: rate * seconds},
                                                                (_, i) => Math.sin(2 * Math.PI * freq * i / rate));
        const run = (rate, freq) => {
            const r = new Resampler(rate, 16000), input = tone(rate, freq, 1), parts = [];
            for (let i = 0; i < input.length; i += 128) parts.push(...r.process(input.subarray(i, i + 128)));
            const body = parts.slice(400, parts.length - 400);  // away from the edges
            const rms = Math.sqrt(body.reduce((a, x) => a + x * x, 0) / body.length);
            let crossings = 0;
            for (let i = 1; i < body.length; i++) if ((body[i - 1] < 0) !== (body[i] < 0)) crossings++;
            return {count: parts.length, rms, freq: crossings / 2 / (body.length / 16000)};
        };
        return {a: run(48000, 440), b: run(44100, 1000), c: run(48000, 12000), d: run(44100, 9000)};
    }""")
    for key, freq in (("a", 440), ("b", 1000)):
        tone = result[key]
        assert abs(tone["count"] - 16000) < 40, tone  # one second in, one second out
        assert abs(tone["rms"] - 2 ** -0.5) < 0.01, tone  # unity gain in the pass band
        assert abs(tone["freq"] - freq) < 2, tone
    assert result["c"]["rms"] < 0.01 and result["d"]["rms"] < 0.01, result  # above 8 kHz: gone, not aliased
    watch.check()
    page.context.close()
