"""The console in a real browser (issue 14 item 6): Debian's chromium, headless, driven by
Selenium through Debian's chromedriver (nothing downloaded at run time), against
`python -m server serve` in the embedded default. One browser and one server for the module.

It logs in by scanning (the QR code read off the page with OpenCV, confirmed through the API as
the mini-program would), decides an application and asks for 补正, opens the monthly figures
page and downloads its workbook, checks that no page scrolls sideways at 375×812 and 1280×800, that
another role's page is 403 and that a form without its CSRF token is refused; and the
accessibility basics: a label for every control, the keyboard reaches the decision, a status is
never told by colour alone."""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from tests.helpers import decode_qr
from tests.miniprogram_api.test_applications import PDF
from tests.server.test_serve import Served

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SIZES = {"phone": (375, 812), "desk": (1280, 800)}


if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true: Debian's chromium and chromium-driver must be installed")
    pytest.skip("chromium or chromedriver is not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("console"), CONSOLE_SECURE_COOKIE="false")
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def api(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))


def token(api: httpx.Client, code: str) -> dict[str, str]:
    answer = api.post("/api/v1/auth/wechat-login", json={"code": code})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    """The page's own viewport (window size minus the browser's frame)."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + width - inner[0], height + height - inner[1])


def scan_login(driver: webdriver.Chrome, api: httpx.Client, base: str, code: str) -> None:
    """What an official does: open /console, scan the QR code with the mini-program, confirm."""
    driver.delete_all_cookies()
    driver.get(f"{base}/console")
    image = driver.find_element(By.ID, "login-qr")
    assert driver.execute_script("return arguments[0].naturalWidth", image) > 0  # it shows
    # The PNG the page shows, decoded by a real decoder (its on-screen scaling to 240 px is not
    # an integer number of pixels per module, which OpenCV now and then fails to read).
    source = image.get_attribute("src")
    assert source.startswith("data:image/png;base64,")
    url = decode_qr(base64.b64decode(source.split(",", 1)[1]))
    assert "/console/scan/" in url, url
    ticket = url.rsplit("/", 1)[1]
    confirmed = api.post(f"/api/v1/console-tickets/{ticket}/confirm", headers=token(api, code))
    assert confirmed.status_code == 200, confirmed.text
    WebDriverWait(driver, 30).until(lambda d: d.current_url.rstrip("/").endswith("/console"))


def no_sideways_scroll(driver: webdriver.Chrome, shots: Path, name: str) -> None:
    for size, (width, height) in SIZES.items():
        viewport(driver, width, height)
        driver.refresh()
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        driver.save_screenshot(str(shots / f"{name}-{size}.png"))
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}×{height}"


def repair_of_demo_citizen(api: httpx.Client) -> int:
    citizen = token(api, "demo-citizen")
    view = api.get("/api/v1/me/credit", headers=citizen).json()
    record = next(r for records in view["records"].values() for r in records if r["repairable"])
    needed = api.get(f"/api/v1/records/{record['id']}/repair-eligibility", headers=citizen).json()
    proofs = {}
    for proof in needed["required_proofs"]:
        stored = api.post(
            "/api/v1/uploads", headers=citizen, files={"file": ("p.pdf", PDF, "application/pdf")}
        )
        assert stored.status_code == 201, stored.text
        proofs[proof["code"]] = [stored.json()["id"]]
    filed = api.post(
        "/api/v1/repairs",
        headers=citizen,
        json={"record_id": record["id"], "reason": "已缴纳罚款并完成整改，申请信用修复",
              "commitment_accepted": True, "proofs": proofs},
    )  # fmt: skip
    assert filed.status_code == 201, filed.text
    return int(filed.json()["id"])


def controls_without_label(driver: webdriver.Chrome) -> list[str]:
    return driver.execute_script(
        """return [...document.querySelectorAll('input,select,textarea')]
          .filter(e => e.type !== 'hidden')
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
          .map(e => e.outerHTML.slice(0, 80));"""
    )


def test_scan_login_decide_and_supplement(driver, api, server, shots):  # type: ignore[no-untyped-def]
    base = f"http://127.0.0.1:{server.port}"
    application_id = repair_of_demo_citizen(api)
    viewport(driver, *SIZES["phone"])
    scan_login(driver, api, base, "demo-reviewer")
    assert "审核人员" in driver.find_element(By.ID, "who").text
    no_sideways_scroll(driver, shots, "home")

    driver.get(f"{base}/console/applications/repairs")
    assert driver.find_element(By.CSS_SELECTOR, f'li[data-id="{application_id}"]')
    assert controls_without_label(driver) == []
    no_sideways_scroll(driver, shots, "queue")

    driver.get(f"{base}/console/applications/repairs/{application_id}")
    no_sideways_scroll(driver, shots, "application")
    assert controls_without_label(driver) == []
    status = driver.find_element(By.ID, "status")
    assert status.text == "已提交"  # a word, not a colour alone
    # The keyboard reaches the decision: Tab from the top until the submit button has focus.
    body = driver.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(60):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.get_attribute("id") == "decide":
            break
    assert driver.switch_to.active_element.get_attribute("id") == "decide"

    driver.find_element(By.ID, "decision-accept").click()
    driver.find_element(By.ID, "decide").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "notice"))
    assert driver.find_element(By.ID, "status").get_attribute("data-status") == "accepted"

    driver.find_element(By.ID, "decision-supplement").click()
    driver.find_element(By.ID, "note").send_keys("请补充整改报告的盖章扫描件")
    driver.find_element(By.ID, "decide").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "supplement"))
    assert driver.find_element(By.ID, "status").text == "待补正"
    mine = api.get(f"/api/v1/repairs/{application_id}", headers=token(api, "demo-citizen")).json()
    assert mine["status"] == "supplementing"
    assert mine["supplement"]["note"] == "请补充整改报告的盖章扫描件"

    # The monthly 调度 figures (issue 14 item 3): from the nav, and the workbook downloaded with
    # this browser's session cookie opens in openpyxl.
    figures = [a for a in driver.find_elements(By.CSS_SELECTOR, "nav.main a") if "调度" in a.text]
    assert figures, "the nav links the monthly figures"
    driver.get(figures[0].get_attribute("href"))
    assert driver.find_elements(By.ID, "who") and not driver.find_elements(By.ID, "error-message")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.figures-chart")
    assert controls_without_label(driver) == []
    no_sideways_scroll(driver, shots, "figures")
    workbook = driver.find_element(By.CSS_SELECTOR, ".figures-downloads a")
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    answer = api.get(workbook.get_attribute("href"), cookies=cookies)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert load_workbook(io.BytesIO(answer.content)).sheetnames[0] == "说明"

    # A form without its CSRF token is refused (script injected by WebDriver, not the page).
    driver.get(f"{base}/console")
    driver.execute_script(
        "document.querySelector('#logout').form.querySelector('[name=csrf]').remove()"
    )
    driver.find_element(By.ID, "logout").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "error-message"))
    assert "安全令牌" in driver.find_element(By.ID, "error-message").text
    driver.get(f"{base}/console")
    assert driver.find_elements(By.ID, "who")  # still logged in


def test_another_roles_page_is_403(driver, api, server, shots):  # type: ignore[no-untyped-def]
    base = f"http://127.0.0.1:{server.port}"
    viewport(driver, *SIZES["desk"])
    scan_login(driver, api, base, "demo-staff")
    driver.get(f"{base}/console/applications/repairs")
    assert "403" in driver.find_element(By.TAG_NAME, "h1").text
    driver.get(f"{base}/console/venues/bayan-hotel")  # a venue demo-staff does not work at
    assert "403" in driver.find_element(By.TAG_NAME, "h1").text
    driver.get(f"{base}/console/venues/alxa-desert-park")
    assert "今日核销" in driver.page_source
    assert controls_without_label(driver) == []
    no_sideways_scroll(driver, shots, "venue")
    driver.find_element(By.ID, "logout").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "login-qr"))
    driver.get(f"{base}/console/venues")
    assert driver.find_elements(By.ID, "login-qr")  # logged out: back at the QR code
