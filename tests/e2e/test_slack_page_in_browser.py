"""The dev Slack page in a real browser (headless Chromium driven by Selenium), as a person evaluating csrgate uses
it: messages drawn from their blocks, confirm dialogs, shortcuts opening modals, typing and submitting, and
attacker text shown as text. First against a stand-in alone with a small app playing the service, then through
`csrgate dev up` from dana's request to her kubeconfig.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from slack_app import EMPTY, Answer, Received, SlackApp
from slack_sdk import WebClient

from devstack.client import DevStackClient
from devstack.slack_emulator import SlackEmulator

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
BROWSER_MISSING = (
    "Chromium is not installed, so the dev Slack page cannot be tried: apt-get install chromium chromium-driver"
)
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
OUTPUT = Path(__file__).parents[2] / "test-output" / "slack-page"
SECRET = "page-signing-secret"
DANA, ALICE = "U0DANA", "U0ALICE"
HOSTILE = "<img src=x onerror=alert(1)>"
WAIT = 30.0  # seconds; a shared two-core machine runs Chromium, the stand-in and the app


# --- the browser ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the module; without it the tests skip here and fail in CI."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if IN_CI:
            pytest.fail(BROWSER_MISSING)
        pytest.skip(BROWSER_MISSING)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


def until(driver: WebDriver, what: str, condition: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
    """Wait for `condition` to hold (stale elements from a redraw count as not yet); what it returned."""
    wait = WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message=f"waiting for {what}")


def act_as(driver: WebDriver, user: str) -> None:
    until(
        driver, f"{user} in the user picker", lambda d: d.find_elements(By.CSS_SELECTOR, f'#who [data-user="{user}"]')
    )
    Select(driver.find_element(By.ID, "who")).select_by_value(user)
    until(
        driver,
        f"the page drawn for {user}",
        lambda d: d.find_elements(By.CSS_SELECTOR, f'body[data-drawn-for="{user}"]'),
    )


def close_modals(driver: WebDriver) -> None:
    """Dismiss the modals left open for this user (scripts in other tests open some), as a person would."""
    while driver.find_elements(By.ID, "modal-close"):
        view_id = driver.find_element(By.CSS_SELECTOR, ".modal").get_attribute("data-view-id")
        driver.find_element(By.ID, "modal-close").click()
        until(
            driver,
            f"{view_id} closed",
            lambda d, shown=view_id: not d.find_elements(By.CSS_SELECTOR, f'[data-view-id="{shown}"]'),
        )


def open_channel(driver: WebDriver, channel: str) -> None:
    until(driver, f"{channel} in the sidebar", lambda d: d.find_element(By.CSS_SELECTOR, f'[data-channel="{channel}"]'))
    driver.find_element(By.CSS_SELECTOR, f'#sidebar [data-channel="{channel}"]').click()


def message(driver: WebDriver, ts: str) -> WebElement:
    return until(driver, f"message {ts}", lambda d: d.find_element(By.CSS_SELECTOR, f'.message[data-ts="{ts}"]'))


def screenshot(element: WebElement, tmp_path: Path, name: str, keep: bool = False) -> Path:
    """A screenshot under the test's tmp_path, and in test-output/slack-page/ when a person should see it."""
    path = tmp_path / name
    element.screenshot(str(path))
    if keep:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, OUTPUT / name)
    return path


def no_alert(driver: WebDriver) -> bool:
    try:
        driver.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


# --- a stand-in alone, with a small app playing the service ---------------------------------------------------------


@dataclass
class PageApp:
    """Plays csrgate's side for the page: opens the request modal on the shortcut, refuses a CSR that is not PEM."""

    web: WebClient
    server: SlackApp = field(init=False)

    def __post_init__(self) -> None:
        self.server = SlackApp(SECRET, self._answer)

    @property
    def received(self) -> list[dict[str, Any]]:
        """The interaction payloads the app got, signed as Slack signs them."""
        return [received.payload for received in self.server.received if received.signed]

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> PageApp:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def _answer(self, received: Received) -> Answer:
        if not received.signed:
            return (401, "text/plain", "")
        payload = received.payload
        if payload["type"] == "shortcut":
            self.web.views_open(trigger_id=payload["trigger_id"], view=REQUEST_VIEW)
        if payload["type"] == "view_submission":
            typed = payload["view"]["state"]["values"]["csr"]["csr"]["value"] or ""
            if not typed.startswith("-----BEGIN CERTIFICATE REQUEST-----"):
                errors = {"response_action": "errors", "errors": {"csr": f"Not a PEM CSR: {typed[:40]}"}}
                return (200, "application/json", json.dumps(errors))
        return EMPTY


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


REQUEST_VIEW: dict[str, Any] = {
    "type": "modal",
    "callback_id": "csrgate_certificate_request",
    "title": plain("Request a certificate"),
    "submit": plain("Request"),
    "close": plain("Cancel"),
    "blocks": [
        {
            "type": "input",
            "block_id": "cluster",
            "label": plain("Cluster"),
            "element": {
                "type": "static_select",
                "action_id": "cluster",
                "options": [{"text": plain("dev"), "value": "dev"}],
            },
        },
        {
            "type": "input",
            "block_id": "csr",
            "label": plain("CSR"),
            "hint": plain("openssl req -new ... -out dana.csr"),
            "element": {"type": "plain_text_input", "action_id": "csr", "multiline": True},
        },
    ],
}
CONFIRM = {
    "title": plain("Deny this request?"),
    "text": {"type": "mrkdwn", "text": "dana will be told *why*."},
    "confirm": plain("Deny it"),
    "deny": plain("Keep it"),
}
REVIEW_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": plain(f"Certificate request {HOSTILE}")},
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": f"*dana* asks for _client auth_ as `dana` from <@{DANA}>, see <https://example.com/csr|the CSR>\n"
            f"```{HOSTILE}```",
        },
        "fields": [{"type": "mrkdwn", "text": "*Cluster*\ndev"}, {"type": "mrkdwn", "text": f"*CN*\n{HOSTILE}"}],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "requested via kubectl"}]},
    {"type": "divider"},
    {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "Findings", "style": {"bold": True}}]},
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": HOSTILE}]},
                    {"type": "rich_text_section", "elements": [{"type": "user", "user_id": ALICE}]},
                ],
            },
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "CN=dana"}]},
            {
                "type": "rich_text_quote",
                "elements": [
                    {"type": "emoji", "name": "warning"},
                    {"type": "link", "url": "javascript:alert(1)", "text": "not a link"},
                ],
            },
        ],
    },
    {"type": "image", "image_url": "https://example.com/x.png", "alt_text": "a diagram"},
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "csrgate_approve",
                "style": "primary",
                "value": "r1",
                "text": plain("Approve"),
            },
            {
                "type": "button",
                "action_id": "csrgate_deny",
                "style": "danger",
                "value": "r1",
                "text": plain("Deny"),
                "confirm": CONFIRM,
            },
        ],
    },
]


@pytest.fixture
def app() -> Iterator[PageApp]:
    running = PageApp(WebClient()).start()
    yield running
    running.stop()


@pytest.fixture
def slack(app: PageApp) -> Iterator[SlackEmulator]:
    users = {DANA: {"name": "dana", "email": "dana@example.com"}, ALICE: {"name": "alice", "email": "a@example.com"}}
    emulator = SlackEmulator(token="xoxb-page", signing_secret=SECRET, users=users).start()
    emulator.interactions_url = f"{app.url}/interactions"
    app.web = WebClient(token=emulator.token, base_url=emulator.api_url)
    yield emulator
    emulator.stop()


@pytest.fixture
def posted(slack: SlackEmulator, app: PageApp) -> dict[str, str]:
    """A review message with every block kind, a reply in its thread and an edit; a note for alice; a file."""
    review = app.web.chat_postMessage(channel="C0DEV", text="review", blocks=REVIEW_BLOCKS)["ts"]
    app.web.chat_postMessage(channel="C0DEV", thread_ts=review, text=f"reply: {HOSTILE}")
    edited = app.web.chat_postMessage(channel="C0DEV", text="before")["ts"]
    app.web.chat_update(channel="C0DEV", ts=edited, text=f"after {HOSTILE}")
    app.web.chat_postEphemeral(channel="C0DEV", user=ALICE, text="only for alice")
    app.web.files_upload_v2(
        channel=f"D{DANA}", filename="dana.kubeconfig", content="apiVersion: v1", title="kubeconfig"
    )
    return {"review": review, "edited": edited}


def test_a_review_message_is_drawn_from_its_blocks_with_attacker_text_as_text(
    browser: WebDriver, slack: SlackEmulator, posted: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN alice on the page, in the review channel
    browser.get(slack.base_url)
    act_as(browser, ALICE)
    open_channel(browser, "C0DEV")
    review = message(browser, posted["review"])
    # THEN each block kind is drawn: header, section text and fields, context, divider, rich text, image, buttons
    for selector in (".header", ".section-text", ".field", ".context", "hr", ".rich-list", "blockquote", ".image-alt"):
        assert review.find_elements(By.CSS_SELECTOR, selector), selector
    assert review.find_element(By.CSS_SELECTOR, ".section-text b").text == "dana"
    assert review.find_element(By.CSS_SELECTOR, ".section-text i").text == "client auth"
    assert review.find_element(By.CSS_SELECTOR, ".section-text code").text == "dana"
    assert "@dana" in [m.text for m in review.find_elements(By.CSS_SELECTOR, ".mention")]
    assert review.find_element(By.LINK_TEXT, "the CSR").get_attribute("href") == "https://example.com/csr"
    assert not review.find_elements(By.LINK_TEXT, "not a link")  # a javascript: URL is never a link
    assert review.find_element(By.CSS_SELECTOR, '[data-action-id="csrgate_approve"]').get_attribute("class") == (
        "block-button primary"
    )
    # AND attacker text is shown as text everywhere, never as an element, and nothing ran
    assert HOSTILE in review.find_element(By.CSS_SELECTOR, ".header").text
    assert HOSTILE in review.find_element(By.CSS_SELECTOR, ".code-block").text
    assert browser.find_elements(By.CSS_SELECTOR, "#messages img") == [] and no_alert(browser)
    # AND the thread reply is under its parent, the edit is marked, and alice sees her ephemeral note
    assert HOSTILE in review.find_element(By.CSS_SELECTOR, ".thread .message").text
    assert "(edited)" in message(browser, posted["edited"]).text
    assert "Only visible to you" in browser.find_element(By.CSS_SELECTOR, ".ephemeral").text
    screenshot(review, tmp_path, "review-message.png", keep=True)


def test_a_file_in_dana_s_dm_has_a_download_link(
    browser: WebDriver, slack: SlackEmulator, posted: dict[str, str]
) -> None:
    browser.get(slack.base_url)
    act_as(browser, DANA)
    open_channel(browser, f"D{DANA}")
    link = until(browser, "the file", lambda d: d.find_element(By.CSS_SELECTOR, ".file .file-download"))
    assert link.get_attribute("href").endswith("/_emulator/files/" + slack.files[0]["id"])
    assert "kubeconfig" in browser.find_element(By.CSS_SELECTOR, ".file").text
    assert browser.find_elements(By.CSS_SELECTOR, ".ephemeral") == []  # alice's note is hers


def test_a_button_with_a_confirm_is_clicked_only_once_confirmed(
    browser: WebDriver, slack: SlackEmulator, app: PageApp, posted: dict[str, str]
) -> None:
    browser.get(slack.base_url)
    act_as(browser, ALICE)
    open_channel(browser, "C0DEV")
    deny = message(browser, posted["review"]).find_element(By.CSS_SELECTOR, '[data-action-id="csrgate_deny"]')
    # WHEN alice clicks Deny, and keeps it in the dialog
    deny.click()
    dialog = until(browser, "the confirm dialog", lambda d: d.find_element(By.CSS_SELECTOR, ".confirm-dialog"))
    assert dialog.find_element(By.CSS_SELECTOR, ".confirm-title").text == "Deny this request?"
    assert dialog.find_element(By.CSS_SELECTOR, ".confirm-text").text == "dana will be told why."
    assert dialog.find_element(By.CSS_SELECTOR, '[data-confirm="no"]').text == "Keep it"
    dialog.find_element(By.CSS_SELECTOR, '[data-confirm="no"]').click()
    # THEN nothing is sent; WHEN she clicks it again and confirms, THEN the click reaches the service
    until(browser, "the dialog to close", lambda d: not d.find_elements(By.CSS_SELECTOR, ".confirm-dialog"))
    assert app.received == []
    message(browser, posted["review"]).find_element(By.CSS_SELECTOR, '[data-action-id="csrgate_deny"]').click()
    until(browser, "the confirm button", lambda d: d.find_element(By.CSS_SELECTOR, '[data-confirm="yes"]')).click()
    until(browser, "the click to reach the service", lambda d: app.received)
    [clicked] = app.received
    assert clicked["actions"][0]["action_id"] == "csrgate_deny" and clicked["user"]["id"] == ALICE


def test_a_shortcut_opens_a_modal_whose_errors_are_drawn_and_whose_submission_closes_it(
    browser: WebDriver, slack: SlackEmulator, app: PageApp, tmp_path: Path
) -> None:
    # GIVEN dana on the page WHEN she picks "Request a certificate" from the shortcuts menu
    browser.get(slack.base_url)
    act_as(browser, DANA)
    browser.find_element(By.ID, "shortcuts-button").click()
    browser.find_element(By.CSS_SELECTOR, '[data-shortcut="csrgate_request_certificate"]').click()
    # THEN the modal the service opened is drawn over the page
    modal = until(browser, "the modal", lambda d: d.find_element(By.CSS_SELECTOR, ".modal"))
    assert modal.find_element(By.CSS_SELECTOR, ".modal-title").text == "Request a certificate"
    # WHEN she picks the cluster, pastes attacker text as the CSR and submits
    Select(modal.find_element(By.CSS_SELECTOR, '[data-block-id="cluster"][data-action-id="cluster"]')).select_by_value(
        "dev"
    )
    csr = modal.find_element(By.CSS_SELECTOR, 'textarea[data-block-id="csr"][data-action-id="csr"]')
    csr.send_keys(HOSTILE)
    modal.find_element(By.ID, "modal-submit").click()
    # THEN the service's inline error is drawn under the CSR input, as text, and what she typed is still there
    error = until(
        browser, "the inline error", lambda d: d.find_element(By.CSS_SELECTOR, '.input-error[data-error-for="csr"]')
    )
    until(browser, "the error text", lambda d: error.text)
    assert error.text == f"Not a PEM CSR: {HOSTILE}"[:54] and no_alert(browser)
    assert csr.get_attribute("value") == HOSTILE
    screenshot(modal, tmp_path, "modal-with-error.png")
    submitted = app.received[-1]["view"]["state"]["values"]
    assert submitted["cluster"]["cluster"]["selected_option"]["value"] == "dev"
    # WHEN she pastes a PEM CSR instead THEN the service accepts it and the modal closes
    csr.clear()
    csr.send_keys("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----")
    modal.find_element(By.ID, "modal-submit").click()
    until(browser, "the modal to close", lambda d: not d.find_elements(By.CSS_SELECTOR, ".modal"))
    assert [v["state"] for v in slack._view_records(DANA)] == ["closed"]


# --- through `csrgate dev up` ---------------------------------------------------------------------------------------


def make_csr_file(home: Path) -> str:
    """dana's CSR, made with openssl as the docs tell her to."""
    subprocess.run(
        [
            "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(home / "dana.key"), "-subj", "/CN=dana", "-out", str(home / "dana.csr"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (home / "dana.csr").read_text()


def test_dana_requests_a_certificate_on_the_page_and_gets_her_kubeconfig(
    browser: WebDriver, stack: DevStackClient, home: Path
) -> None:
    # GIVEN dana, who has no access to the cluster, on the page
    browser.get(stack.stack["slack_url"])
    act_as(browser, DANA)
    close_modals(browser)
    # WHEN she picks "Request a certificate", fills the modal with a CSR made with openssl, and submits
    browser.find_element(By.ID, "shortcuts-button").click()
    browser.find_element(By.CSS_SELECTOR, '[data-shortcut="csrgate_request_certificate"]').click()
    modal = until(
        browser,
        "the request modal",
        lambda d: d.find_element(By.CSS_SELECTOR, '.modal[data-callback-id="csrgate_certificate_request"]'),
    )
    Select(modal.find_element(By.CSS_SELECTOR, '[data-block-id="cluster"]')).select_by_value("dev")
    modal.find_element(By.CSS_SELECTOR, '[data-block-id="csr"]').send_keys(make_csr_file(home))
    lifetimes = Select(modal.find_element(By.CSS_SELECTOR, '[data-block-id="lifetime"]'))
    lifetimes.select_by_index(1)  # the first option after the placeholder
    modal.find_element(By.CSS_SELECTOR, '[data-block-id="reason"]').send_keys("on-call for the dev cluster")
    modal.find_element(By.ID, "modal-submit").click()
    # the form is replaced (an update saying it was sent) or closed; a form still asking for the CSR was refused
    until(
        browser,
        "the request to be accepted",
        lambda d: not d.find_elements(By.CSS_SELECTOR, '.modal [data-block-id="csr"]'),
    )
    for close in browser.find_elements(By.ID, "modal-close"):
        close.click()
    until(browser, "the modal to close", lambda d: not d.find_elements(By.CSS_SELECTOR, ".modal"))
    # THEN alice finds the approval request for dana's request in the review channel, and approves it on the page
    act_as(browser, ALICE)
    close_modals(browser)
    open_channel(browser, stack.channel)
    review = until(browser, "dana's approval request", lambda d: approval_request(d, "dana"))
    screenshot(review, home, "approval-request.png", keep=True)
    review.find_element(By.CSS_SELECTOR, '[data-action-id="csrgate_approve"]').click()
    # AND dana finds her kubeconfig in her DM
    act_as(browser, DANA)
    close_modals(browser)
    open_channel(browser, f"D{DANA}")
    until(browser, "dana's kubeconfig", lambda d: d.find_elements(By.CSS_SELECTOR, ".file .file-download"), timeout=90)


def approval_request(driver: WebDriver, requester: str) -> WebElement | None:
    """The newest message in the channel with an Approve button that names `requester`."""
    for candidate in reversed(driver.find_elements(By.CSS_SELECTOR, "#messages > .message")):
        if requester in candidate.text and candidate.find_elements(
            By.CSS_SELECTOR, '[data-action-id="csrgate_approve"]'
        ):
            return candidate
    return None
