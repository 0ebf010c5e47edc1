"""Live dictation in headless Chromium: a fake microphone playing real speech, the real server.

Chromium's fake capture device plays a speech WAV (looping, with pauses) through
getUserMedia into the page's AudioWorklet, which streams 16 kHz s16le over
``/ws/transcribe``. Texts are never compared with fixed strings, so the tests hold
for any model.
"""

from __future__ import annotations

import re

import pytest

import test_server_support
from test_server_support import free_port, start_server, stop_server
from test_web_support import (DESKTOP, FAKE_MIC_ARGS, FAKE_UI_ARGS, browser, expect, lan_address,  # noqa: F401
                              launch, mic_wav, open_page, playwright, self_signed_cert, server_at, server_flags,
                              shots, wait_models, web_server)

TIMEOUT_MS = 60000
RECORD_EVENTS = """() => {
    // Log, in order, every partial shown and every final appended (for "partials come first").
    window.__events = [];
    const body = document.querySelector('#dictation .transcript-body');
    const partial = body.querySelector('.partial');
    new MutationObserver(() => {
        if (partial.textContent) window.__events.push(['partial', partial.textContent]);
    }).observe(partial, {childList: true, characterData: true, subtree: true});
    new MutationObserver((changes) => {
        for (const c of changes) for (const n of c.addedNodes) window.__events.push(['final', n.textContent]);
    }).observe(body.querySelector('.segments'), {childList: true});
}"""


def finals(page) -> list[str]:
    return page.locator("#dictation .segment .text").all_inner_texts()


def wait_finals(page, count: int) -> None:
    expect(page.locator("#dictation .segment")).to_have_count(count, timeout=TIMEOUT_MS) if count == 1 else \
        page.locator("#dictation .segment").nth(count - 1).wait_for(timeout=TIMEOUT_MS)


def stop_and_wait(page) -> None:
    page.get_by_role("button", name="Stop dictation").click()
    expect(page.get_by_role("button", name="Start dictation")).to_be_enabled(timeout=TIMEOUT_MS)
    expect(page.locator("#dictation-status")).to_have_text(re.compile("^Stopped"))


def test_dictation_shows_partials_then_finals(web_server, browser, shots):
    page, watch = open_page(browser.new_context(viewport=DESKTOP), web_server.url)
    wait_models(page)
    page.evaluate(RECORD_EVENTS)
    page.get_by_role("button", name="Start dictation").focus()
    page.keyboard.press("Enter")  # keyboard alone is enough
    stop = page.get_by_role("button", name="Stop dictation")
    expect(stop).to_be_enabled(timeout=TIMEOUT_MS)  # the accessible name says what a press does now
    expect(page.locator("#dictation-status")).to_have_text(re.compile("Listening"), timeout=TIMEOUT_MS)

    partial = page.locator("#dictation .partial")
    partial.wait_for(state="visible", timeout=TIMEOUT_MS)
    level = page.locator("#dictation .level")
    expect(level).not_to_have_attribute("aria-valuenow", "0", timeout=TIMEOUT_MS)  # the meter moves
    style = partial.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).fontStyle]")
    page.screenshot(path=str(shots / "dictation-live.png"))

    wait_finals(page, 1)
    segment_text = page.locator("#dictation .segment .text").first
    assert style != segment_text.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).fontStyle]")
    stop_and_wait(page)

    events = page.evaluate("window.__events")
    kinds = [kind for kind, _ in events]
    assert "partial" in kinds and kinds.index("partial") < kinds.index("final"), events
    assert page.locator("#dictation .partial").count() == 1  # replaced in place, never appended
    assert finals(page) and all(finals(page)), finals(page)
    assert [text for kind, text in events if kind == "final"][0].endswith(finals(page)[0])
    expect(level).to_have_attribute("aria-valuenow", "0")
    page.screenshot(path=str(shots / "dictation-done.png"))
    watch.check()
    page.context.close()


def test_denied_microphone_permission_is_explained(web_server, playwright, mic_wav, shots):
    # No --use-fake-ui-for-media-stream: the permission is whatever the context grants, here nothing.
    browser = launch(playwright, *FAKE_MIC_ARGS, f"--use-file-for-fake-audio-capture={mic_wav}")
    try:
        page, watch = open_page(browser.new_context(viewport=DESKTOP), web_server.url)
        wait_models(page)
        page.get_by_role("button", name="Start dictation").click()
        error = page.locator("#dictation-error")
        expect(error).to_contain_text("denied", timeout=TIMEOUT_MS)
        expect(page.get_by_role("button", name="Start dictation")).to_be_enabled()
        assert page.get_by_role("alert").filter(has_text="denied").count() == 1
        page.screenshot(path=str(shots / "error-permission-denied.png"))
        watch.check()
    finally:
        browser.close()


def test_missing_microphone_is_explained(web_server, playwright):
    browser = launch(playwright, *FAKE_UI_ARGS)  # no fake device: this machine has no microphone
    try:
        page, watch = open_page(browser.new_context(viewport=DESKTOP), web_server.url)
        wait_models(page)
        page.get_by_role("button", name="Start dictation").click()
        expect(page.locator("#dictation-error")).to_contain_text("No microphone", timeout=TIMEOUT_MS)
        expect(page.get_by_role("button", name="Start dictation")).to_be_enabled()
        watch.check()
    finally:
        browser.close()


def test_a_dropped_connection_reconnects_and_keeps_the_transcript(models_dir, browser, shots, tmp_path,
                                                                  monkeypatch):
    port = free_port()
    monkeypatch.setattr(test_server_support, "free_port", lambda: port)  # the restart must reuse the port
    server = start_server(models_dir, tmp_path / "first.log")
    # The page logs the refused reconnects itself; those console lines are the point of this test.
    page, watch = open_page(browser.new_context(viewport=DESKTOP), server.url,
                            allowed_console=("WebSocket connection", "ERR_CONNECTION_REFUSED"))
    try:
        wait_models(page)
        page.get_by_role("button", name="Start dictation").click()
        wait_finals(page, 1)
        before = finals(page)
        server.process.kill()  # a crash, not a drain: the open segment never gets its final
        server.process.wait(timeout=10)
        status = page.locator("#dictation-status")
        expect(status).to_contain_text("Connection lost", timeout=TIMEOUT_MS)
        assert finals(page)[:len(before)] == before
        page.screenshot(path=str(shots / "dictation-reconnecting.png"))

        server = start_server(models_dir, tmp_path / "second.log")
        expect(status).to_contain_text("Reconnected", timeout=TIMEOUT_MS)
        wait_finals(page, len(before) + 1)
        stop_and_wait(page)
        after = finals(page)
        assert after[:len(before)] == before and len(after) > len(before), (before, after)
        # While the server was down, reconnects (and their /api/models probes) failed: expected.
        watch.problems = [p for p in watch.problems if "ERR_CONNECTION_REFUSED" not in p]
        watch.check()
    finally:
        page.context.close()
        stop_server(server)


def test_stopping_while_the_server_is_gone_keeps_the_last_words(models_dir, browser, tmp_path):
    server = start_server(models_dir, tmp_path / "server.log")
    page, watch = open_page(browser.new_context(viewport=DESKTOP), server.url,
                            allowed_console=("WebSocket connection", "ERR_CONNECTION_REFUSED"))
    try:
        wait_models(page)
        page.get_by_role("button", name="Start dictation").click()
        partial = page.locator("#dictation .partial")
        partial.wait_for(state="visible", timeout=TIMEOUT_MS)
        server.process.kill()
        server.process.wait(timeout=10)
        shown = finals(page) + ([partial.inner_text()] if partial.is_visible() else [])
        page.get_by_role("button", name="Stop dictation").click()
        expect(page.locator("#dictation-status")).to_contain_text("could not be reached", timeout=TIMEOUT_MS)
        expect(page.get_by_role("button", name="Start dictation")).to_be_enabled()
        after = finals(page)
        # Everything that was on screen is still there; the unconfirmed partial became the last line.
        assert after == shown, (shown, after)
        watch.problems = [p for p in watch.problems if "ERR_CONNECTION_REFUSED" not in p]
        watch.check()
    finally:
        page.context.close()
        if server.process.poll() is None:
            stop_server(server)


def test_dictation_over_https_uses_wss(models_dir, browser, tmp_path):
    if "--certfile" not in server_flags():
        pytest.skip("this server has no --certfile yet")
    cert, key = self_signed_cert(tmp_path)
    url = f"https://localhost:{free_port()}"
    with server_at(models_dir, tmp_path / "https.log", url, "--certfile", str(cert), "--keyfile", str(key)):
        page, watch = open_page(browser.new_context(viewport=DESKTOP, ignore_https_errors=True), url)
        sockets = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        wait_models(page)
        page.get_by_role("button", name="Start dictation").click()
        wait_finals(page, 1)
        stop_and_wait(page)
        assert sockets and all(s.startswith("wss://") for s in sockets), sockets
        watch.check()
        page.context.close()


def test_plain_http_on_a_network_address_explains_https(models_dir, browser, tmp_path):
    """Off localhost without TLS the browser hides the microphone API; the page must say why."""
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    url = f"http://{address}:{free_port()}"
    with server_at(models_dir, tmp_path / "lan.log", url):
        # Chromium logs that it ignores the server's Cross-Origin-Opener-Policy on a plain-http origin.
        page, watch = open_page(browser.new_context(viewport=DESKTOP), url,
                                allowed_console=("Cross-Origin-Opener-Policy",))
        wait_models(page)
        page.get_by_role("button", name="Start dictation").click()
        expect(page.locator("#dictation-error")).to_contain_text("https", timeout=TIMEOUT_MS)
        expect(page.get_by_role("button", name="Start dictation")).to_be_enabled()
        watch.check()
        page.context.close()


def test_token_is_asked_once_and_kept(models_dir, browser, shots, tmp_path):
    if "--api-token" not in server_flags():
        pytest.skip("this server has no --api-token yet")
    token = "web-test-token"
    server = start_server(models_dir, tmp_path / "token.log", "--api-token", token)
    context = browser.new_context(viewport=DESKTOP)
    try:
        page, watch = open_page(context, server.url, allowed_console=("401",))
        dialog = page.get_by_role("dialog", name="Access token")
        expect(dialog).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_label("Token", exact=True).fill("wrong")
        page.get_by_role("button", name="Save").click()
        expect(dialog).to_contain_text("not accepted", timeout=TIMEOUT_MS)
        page.get_by_label("Token", exact=True).fill(token)
        page.screenshot(path=str(shots / "token-dialog.png"))
        page.get_by_role("button", name="Save").click()
        expect(page.locator("body")).to_have_attribute("data-models", "loaded", timeout=TIMEOUT_MS)
        watch.check()

        # Kept: a reload asks nothing, and both HTTP and the WebSocket (?token=) get through.
        page, watch = open_page(context, server.url)
        wait_models(page)
        expect(page.get_by_role("dialog")).to_have_count(0)
        page.get_by_role("button", name="Start dictation").click()
        wait_finals(page, 1)
        stop_and_wait(page)
        watch.check()
    finally:
        context.close()
        stop_server(server)
