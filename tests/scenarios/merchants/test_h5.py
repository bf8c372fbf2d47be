"""The H5 page of a plate (scenarios/merchants/h5.py) in a real headless Chromium at 375×812,
served by `python -m server serve` on the embedded default."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from scenarios.merchants.rules import default_rules
from tests.conftest import BACKEND

PROJECT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    """`python -m server serve` on the embedded default, as a newcomer runs it."""
    var = tmp_path_factory.mktemp("served")
    port = _free_port()
    env = os.environ | {
        "PORT": str(port),
        "DATABASE_URL": f"sqlite://{var}/credit.sqlite3",
        "KEY_FILE": str(var / "keys.json"),
        "UPLOAD_DIR": str(var / "uploads"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ACCESS_LOG": "true",
    }
    for name in ("REDIS_URL", "WECHAT_API_BASE", "APP_ENV", "FIELD_KEYS", "BLIND_INDEX_KEY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"],
        cwd=PROJECT,
        env=env,
        stdout=(var / "stdout.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the drainer and workers go with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the service did not start within 60 s")
        yield base, var / "stdout.log"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # `serve` on SIGTERM has been seen to leave its audit drainer process spinning:
            # end the whole group rather than leave it behind for the next tests.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("CI=true needs Debian's chromium (./dev test installs it)")
    return found


@pytest.mark.skipif(BACKEND != "embedded", reason="backend-independent: runs in the embedded pass")
def test_h5_page_in_headless_chromium_at_375x812(served_demo, tmp_path):  # type: ignore[no-untyped-def]
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    served, _log = served_demo
    url = f"{served}/m/DemoTuoling01"
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--window-size=375,812", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    shot = tmp_path / "plate.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", url], check=True, timeout=60, capture_output=True
    )
    dom = subprocess.run(
        [*common, "--dump-dom", url], check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert '<h1 id="merchant-name">驼铃餐厅（定远营店）</h1>' in dom
    assert 'id="level" data-grade="' in dom and "信用等级" in dom
    image = Image.open(shot).convert("RGB")
    assert image.size == (375, 812)
    with urllib.request.urlopen(f"{served}/api/v1/merchant-codes/DemoTuoling01") as answer:
        import json

        colour = json.load(answer)["level"]["colour"]
    # Level colour first: the top of the screen is the level band.
    expected = Image.new("RGB", (1, 1), colour).getpixel((0, 0))
    assert image.getpixel((187, 10)) == expected
    assert default_rules().zones["dingyuanying"].name in dom


@pytest.mark.skipif(BACKEND != "embedded", reason="backend-independent: runs in the embedded pass")
def test_h5_mongolian_column_in_headless_chromium_without_horizontal_scroll(served_demo, tmp_path):  # type: ignore[no-untyped-def]
    """Issue 15: the Mongolian stands in a vertical column, in the font this service serves, and
    the page does not scroll sideways at 375 px (a script reads the widths after layout)."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    served, _log = served_demo
    with urllib.request.urlopen(f"{served}/m/DemoTuoling01") as answer:
        csp = answer.headers["Content-Security-Policy"]
        html = answer.read().decode()
    assert "font-src 'self'" in csp and 'lang="mn-Mong"' in html
    assert default_rules().zones["dingyuanying"].name_mn in html
    # Served for real (not through ASGI): the Mongolian body replaces the Chinese one whole.
    with urllib.request.urlopen(f"{served}/api/v1/merchant-codes/DemoTuoling01?lang=mn") as answer:
        import json as json_module

        assert answer.headers["Content-Language"] == "mn-Mong"
        view = json_module.loads(answer.read())
        assert view["merchant"]["zone"] == default_rules().zones["dingyuanying"].name_mn
    request = urllib.request.Request(
        f"{served}/fonts/mongolian.ttf", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request) as font:
        assert font.headers["Content-Encoding"] == "gzip"
        assert "max-age" in font.headers["Cache-Control"] and font.headers["ETag"]
        etag = font.headers["ETag"]
    again = urllib.request.Request(f"{served}/fonts/mongolian.ttf", headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(again)
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as exc:
        assert exc.code == 304
    # The page's own CSP forbids scripts, so it is measured inside a 375-pixel-wide frame
    # (srcdoc: same origin as the measuring page, whose script writes the widths into the DOM;
    # headless Chromium's own window is never narrower than 500 px for --dump-dom).
    from html import escape

    page = html.replace("/fonts/mongolian.ttf", f"{served}/fonts/mongolian.ttf")
    probe = tmp_path / "probe.html"
    script = (
        "<script>f.onload=()=>{const d=f.contentDocument;d.fonts.ready.then(()=>{"
        "const m=d.getElementById('mongolian');const r=m.getBoundingClientRect();"
        "document.body.setAttribute('data-probe',JSON.stringify({iw:f.contentWindow.innerWidth,"
        "sw:d.documentElement.scrollWidth,w:r.width,h:r.height,"
        "mode:getComputedStyle(m).writingMode,"
        "font:d.fonts.check('20px Noto Sans Mongolian')}))})}</script>"
    )
    probe.write_text(
        '<!doctype html><html><body style="margin:0"><iframe id="f" width="375" height="812" '
        f'style="border:0" srcdoc="{escape(page)}"></iframe>{script}</body></html>',
        encoding="utf-8",
    )
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--window-size=375,812", f"--user-data-dir={tmp_path / 'profile'}",
              "--virtual-time-budget=5000", "--allow-file-access-from-files"]  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", probe.as_uri()], check=True, timeout=60, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    import json
    import re

    found = re.search(r"data-probe=\"([^\"]+)\"", dom)
    assert found, dom[-500:]
    probe_values = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe_values["mode"] == "vertical-lr"
    assert probe_values["h"] > probe_values["w"] > 0  # a column: taller than wide
    assert probe_values["iw"] == 375 and probe_values["sw"] <= 375, probe_values  # no sideways
    assert probe_values["font"] is True  # the served font loaded
    shot = tmp_path / "mongolian.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", f"{served}/m/DemoTuoling01"], check=True, timeout=60,
        capture_output=True,
    )  # fmt: skip
    assert Image.open(shot).size == (375, 812)
