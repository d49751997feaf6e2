"""The README's copy-paste examples, read from README.md itself and sent to the real app over HTTP: the first request
of each provider, the rules and faults curl lines and the configuration snippet. An edit of the README that breaks
one of them (a body, a key, an answer shown in a comment, a timing) fails here instead of in a newcomer's shell.

The curl commands run against a real clock ("two seconds later"); here the manual clock moves instead, by the same
amounts, so nothing depends on timing."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from mock_server.providers.nxcloud.signing import sign_headers
from mock_server.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BASE = "http://127.0.0.1:8080"


def section(title: str, nth: int = 0) -> str:
    """The text of the nth README section of that title (from its heading to the next heading of any level)."""
    found = re.findall(rf"^#{{2,6}} {re.escape(title)}\n(.*?)(?=^#{{2,6}} )", README, re.S | re.M)
    assert len(found) > nth, f"README has no section {title!r} (number {nth + 1})"
    return found[nth]


def first_block(text: str) -> str:
    match = re.search(r"^```\w*\n(.*?)^```", text, re.S | re.M)
    assert match, "no code block"
    return match.group(1)


def shown_answer(block: str, answer: dict[str, Any]) -> None:
    """The answer matches the one the README shows in a `# {...}` comment ("…" stands for any value)."""
    shown = re.search(r"^# (\{.*\})$", block, re.M)
    assert shown, "no answer shown in the block"
    pattern = re.escape(shown.group(1)).replace("…", '[^"]+')
    assert re.fullmatch(pattern, json.dumps(answer, separators=(",", ":"))), (shown.group(1), answer)


def seconds_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def test_the_readme_urls_are_the_default_address():
    settings = Settings.load(env={})
    assert f"http://{settings.host}:{settings.port}" == BASE
    assert f"(listens on `{BASE}`)" in README


async def test_the_esms_first_request(mock_client, advance):
    block = first_block(section("Your first request (copy-paste)"))
    assert "--clock manual" in block  # the block's own server runs on the manual clock, as mock_client does
    path = re.search(rf"curl -s {re.escape(BASE)}(\S+) \\", block).group(1)
    body = re.search(r"-d '(.*?)'", block, re.S).group(1)
    resp = await mock_client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    shown_answer(block, await resp.json())

    seconds = json.loads(re.search(r"/_mock/clock/advance -d '(.*?)'", block).group(1))["seconds"]
    await advance(seconds)
    assert "/_mock/messages/latest" in block
    message = await (await mock_client.get("/_mock/messages/latest")).json()
    assert [h["status"] for h in message["history"]] == ["accepted", "sent", "delivered"]  # "accepted → sent → delivered"
    assert message["meta"]["callback_url"] == json.loads(body)["CallbackUrl"]  # owed: "callbacks are then on their way"


async def test_the_infobip_first_request(mock_client, advance):
    block = first_block(section("First request"))
    send, reports = re.findall(rf"curl -s {re.escape(BASE)}(\S+)", block)
    auth = re.findall(r"-H 'Authorization: ([^']+)'", block)
    body = re.search(r"-d '(.*?)'", block, re.S).group(1)
    resp = await mock_client.post(send, data=body, headers={"Authorization": auth[0],
                                                            "Content-Type": "application/json"})
    assert resp.status == 200
    (sent,) = (await resp.json())["messages"]
    assert sent["status"]["name"] == "PENDING_ENROUTE"

    later = re.search(r"# (\w+) seconds later .*Viber fails at ([\d.]+) s, SMS is delivered at ([\d.]+) s", block)
    assert later, "the block's comment names when Viber fails and the SMS is delivered"
    await advance({"two": 2}[later.group(1)])
    listed = await (await mock_client.get(reports, headers={"Authorization": auth[1]})).json()
    (report,) = listed["results"]
    assert report["messageId"] == sent["messageId"]
    assert report["channel"] == "SMS" and report["status"]["name"] == "DELIVERED_TO_HANDSET"

    history = (await (await mock_client.get("/_mock/messages/latest")).json())["history"]
    start = history[0]["at"]
    failed = next(h for h in history if h["status"] == "undeliverable")
    delivered = next(h for h in history if h["status"] == "delivered")
    assert (failed["channel"], delivered["channel"]) == ("viber", "sms")
    assert seconds_between(start, failed["at"]) == float(later.group(2))
    assert seconds_between(start, delivered["at"]) == float(later.group(3))


async def test_the_nxcloud_first_request(mock_client):
    block = first_block(section("Your first request (copy-paste)", 1))  # the first is eSMS's
    body = re.search(r"^BODY='(.*)'$", block, re.M).group(1)
    key, secret = re.search(r"accessKey=(\w+)&.*&accessSecret=(\w+)", block).groups()
    path = re.search(rf"curl -s {re.escape(BASE)}(\S+) ", block).group(1)
    for name, value in (("accessKey", key), ("bizType", "7"), ("action", "mt")):
        assert f"-H '{name}: {value}'" in block
    resp = await mock_client.post(path, data=body.encode(), headers=sign_headers(key, secret, body.encode()))
    assert resp.status == 200
    shown_answer(block, await resp.json())
    message = await (await mock_client.get("/_mock/messages/latest")).json()
    assert message["provider"] == "nxcloud" and message["phone"] == json.loads(body)["phone"]


async def test_the_rules_and_faults_curl_lines(mock_client):
    lines = re.findall(rf"curl -s -X POST {re.escape(BASE)}(/_mock/(?:rules|faults)) -d '(.*?)'", README)
    assert {path for path, _ in lines} == {"/_mock/rules", "/_mock/faults"}
    for path, body in lines:  # curl -d sends a form content type; the control API reads the body as JSON anyway
        resp = await mock_client.post(path, data=body,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status == 201, (path, body, await resp.text())
        assert (await resp.json()).items() >= json.loads(body).items()


def test_the_configuration_snippet_starts(tmp_path):
    snippet = first_block(section("Configuration file"))
    path = tmp_path / "config.toml"
    path.write_text(snippet, encoding="utf-8")
    settings = Settings.load(path, env={})
    assert settings.port == 8080 and settings.callbacks.max_attempts == 5
