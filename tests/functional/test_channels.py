"""Slack and webhook deliveries against local servers over loopback: the Slack SDK's
external-upload flow and chat.postMessage against a fake Web API (its base_url pointed at
it), and webhooks in the Teams, Slack and JSON formats. Each is a ledger entry of its own:
posted once, retried on 429/5xx, failed alone on 4xx, uncertain when the connection drops
after the request went out, and written to the outbox by a dry run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import reportc
from reportc.config import load_project
from tests.chatfakes import TOKEN, fake_slack, webhook_receiver
from tests.conftest import FIXED_NOW, MINIMAL_YAML, MakeProject

FINDINGS = (
    "id,title,severity,entity\n"
    "F1,<!channel> click <https://evil.example.com|here> **now**,critical,North\n"
    "F2,Backups untested,high,South\n"
)


FILE = "data/findings.csv"
SLACK = "    slack: {channel: C0123456789}\n"


def _project(make_project: MakeProject, channel_yaml: str, **env: str) -> reportc.Project:
    yaml_text = (
        MINIMAL_YAML.replace("delivery:\n", "delivery:\n  transport: outbox\n")
        .replace(
            "sections:\n  summary:",
            "sections:\n  issues:\n    type: findings\n    title: Issues\n    source: findings\n"
            "  headline:\n    type: kpis\n    items: [{label: Total sales, value: total_sales}]\n"
            "  summary:",
        )
        .replace(
            "    sections: [summary, sales_table]", "    sections: [headline, sales_table, issues]"
        )
        .replace("    title: CEO Report\n", f"    title: CEO Report\n{channel_yaml}")
        .replace(
            "sources:\n", "sources:\n  findings:\n    type: csv\n    path: data/findings.csv\n"
        )
    )
    root = make_project({"reports.yaml": yaml_text, "data/findings.csv": FINDINGS})
    return load_project(root, environ=env)


def _send(project: reportc.Project, **kw: Any) -> reportc.SendResult:
    return reportc.send(project, clock=lambda: FIXED_NOW, sleep=lambda s: None, **kw)


def _by_target(result: reportc.SendResult) -> dict[str, Any]:
    return {(m.to[0] if m.to else m.report): m for m in result.messages}


@pytest.mark.slow
def test_a_teams_webhook_gets_the_summary_once(make_project: MakeProject) -> None:
    with webhook_receiver(200) as hook:
        project = _project(
            make_project, "    webhook: {url: '${TEAMS_URL}', format: teams}\n", TEAMS_URL=hook.url
        )
        first = _send(project)
        assert first.ok, first
        assert len(hook.bodies) == 1
        card = hook.bodies[0]
        assert card["@type"] == "MessageCard" and card["title"] == "CEO Report — October 2026"
        facts = card["sections"][0]["facts"]
        assert facts == [{"name": "Total sales", "value": "$2,500"}]
        findings = card["sections"][1]["text"]
        assert "\\<!channel\\>" in findings and "<!channel>" not in findings
        assert "\\*\\*now\\*\\*" in findings  # Markdown in data is text
        shown = [m.to for m in first.messages]
        assert ("webhook:teams:127.0.0.1",) in shown
        assert not any("secret-hook-token" in str(m) for m in first.messages)
        again = _send(project)
        assert again.ok and len(hook.bodies) == 1  # already posted: not again
        states = {m.to[0]: m.state for m in again.messages if m.to}
        assert states["webhook:teams:127.0.0.1"] == "skipped"
    ledger = (project.root / ".reportc").rglob("*.sqlite*")
    for path in ledger:
        assert b"secret-hook-token" not in path.read_bytes()


@pytest.mark.slow
def test_a_webhook_500_is_retried_and_a_400_fails_alone(make_project: MakeProject) -> None:
    with webhook_receiver(500, 503, 200) as hook:
        project = _project(make_project, "    webhook: {url: '${HOOK}'}\n", HOOK=hook.url)
        result = _send(project)
        assert result.ok, result
        assert len(hook.bodies) == 1 and hook.bodies[0]["reportc"]["report"] == "ceo"
    with webhook_receiver(400) as hook:
        project = _project(make_project, "    webhook: {url: '${HOOK}'}\n", HOOK=hook.url)
        result = _send(project, resend=True)
        failed = [m for m in result.messages if m.state == "failed"]
        assert [m.to[0] for m in failed] == ["webhook:json:127.0.0.1"]
        assert re.search(
            r"reports\.yaml:\d+:\d+: personas\.ceo\.webhook: 127\.0\.0\.1 refused it: HTTP 400",
            failed[0].detail,
        ), failed[0].detail
        emails = [m for m in result.messages if m.to and "@" in m.to[0]]
        assert emails and all(m.ok for m in emails)  # the email still went


@pytest.mark.slow
def test_a_dropped_connection_after_posting_is_uncertain(make_project: MakeProject) -> None:
    with webhook_receiver(0, 200) as hook:
        project = _project(make_project, "    webhook: {url: '${HOOK}'}\n", HOOK=hook.url)
        first = _send(project)
        mine = [m for m in first.messages if m.to and m.to[0].startswith("webhook")]
        assert [m.state for m in mine] == ["uncertain"], mine
        again = _send(project)
        assert len(hook.bodies) == 1  # not posted twice
        mine = [m for m in again.messages if m.to and m.to[0].startswith("webhook")]
        assert [m.state for m in mine] == ["uncertain"]
        forced = _send(project, resend_uncertain=True)
        assert len(hook.bodies) == 2 and forced.ok


@pytest.mark.slow
def test_a_dry_run_writes_the_payloads_and_posts_nothing(make_project: MakeProject) -> None:
    with webhook_receiver(200) as hook, fake_slack() as slack:
        block = "    webhook: {url: '${HOOK}', format: slack}\n    slack: {channel: C0123456789}\n"
        project = _project(make_project, block, HOOK=hook.url, SLACK_BOT_TOKEN=TOKEN)
        result = reportc.send(project, clock=lambda: FIXED_NOW, dry_run=True)
        assert result.ok and not hook.bodies and not slack.calls
        files = sorted(p.name for p in (project.root / "dist/outbox").iterdir())
        assert any(f.startswith("ceo-slack-") and f.endswith(".json") for f in files), files
        assert any(f.startswith("ceo-webhook-") for f in files), files
        payload = json.loads(
            next((project.root / "dist/outbox").glob("ceo-webhook-*.json")).read_text()
        )
        text = json.dumps(payload)
        assert "&lt;!channel&gt;" in text and "<!channel>" not in text


@pytest.mark.slow
def test_slack_uploads_the_pdf_and_posts_the_summary_once(make_project: MakeProject) -> None:
    with fake_slack() as slack:
        project = _project(
            make_project, "    slack: {channel: C0123456789}\n", SLACK_BOT_TOKEN=TOKEN
        )
        project = _with_slack_url(project, slack.base_url)
        result = _send(project)
        assert result.ok, result
        assert slack.calls == [
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
            "chat.postMessage",
        ]
        pdf = (project.root / "dist/ceo.pdf").read_bytes()
        assert list(slack.uploads.values()) == [pdf]
        assert "channel_id" not in slack.completed[0]  # private until the message shares it
        post = slack.posts[0]
        assert post["channel"] == "C0123456789"
        text = json.dumps(post["blocks"])
        assert "&lt;!channel&gt;" in text and "<!channel>" not in text
        assert "files/U1/F00000001/report.pdf" in text
        again = _send(project)
        assert again.ok and len(slack.posts) == 1


def _with_slack_url(project: reportc.Project, url: str) -> reportc.Project:
    import dataclasses

    return dataclasses.replace(
        project, delivery=dataclasses.replace(project.delivery, slack_api_url=url)
    )


@pytest.mark.slow
def test_slack_errors_are_reported_and_a_rate_limit_is_retried(make_project: MakeProject) -> None:
    with fake_slack() as slack:
        slack.post_error = "channel_not_found"
        project = _project(
            make_project, "    slack: {channel: C0123456789}\n", SLACK_BOT_TOKEN=TOKEN
        )
        project = _with_slack_url(project, slack.base_url)
        result = _send(project)
        failed = [m for m in result.messages if m.state == "failed"]
        assert len(failed) == 1
        assert re.search(
            r"reports\.yaml:\d+:\d+: personas\.ceo\.slack: Slack refused it: channel_not_found",
            failed[0].detail,
        ), failed[0].detail
        assert not result.ok
    with fake_slack() as slack:
        slack.rate_limited = 1
        project = _project(
            make_project, "    slack: {channel: C0123456789}\n", SLACK_BOT_TOKEN=TOKEN
        )
        project = _with_slack_url(project, slack.base_url)
        result = _send(project, resend=True)
        assert result.ok, result
        assert len(slack.posts) == 1
    project = _project(make_project, "    slack: {channel: C0123456789}\n")
    result = _send(_with_slack_url(project, "http://127.0.0.1:9/api/"), resend=True)
    failed = [m for m in result.messages if m.state == "failed"]
    assert "SLACK_BOT_TOKEN (the bot token) is not set" in failed[0].detail


def test_channel_config_errors_are_positioned(make_project: MakeProject, tmp_path: Path) -> None:

    root = make_project(
        {
            "reports.yaml": MINIMAL_YAML.replace(
                "    title: CEO Report\n",
                "    title: CEO Report\n    slack: {channel: '#general'}\n"
                "    webhook: {url: 'http://hooks.example.com/x', format: discord}\n",
            )
        }
    )
    with pytest.raises(reportc.ConfigError) as caught:
        load_project(root, environ={})
    shown = "\n".join(p.format() for p in caught.value.problems)
    assert "personas.ceo.slack.channel" in shown and "personas.ceo.webhook.format" in shown
    (root / "reports.yaml").write_text(
        MINIMAL_YAML.replace(
            "    title: CEO Report\n",
            "    title: CEO Report\n    webhook: {url: 'http://hooks.example.com/x'}\n",
        )
    )
    with pytest.raises(reportc.ConfigError) as caught:
        load_project(root, environ={})
    assert "personas.ceo.webhook.url: a webhook must be an https:// URL (got http scheme)" in (
        caught.value.problems[0].format()
    )


@pytest.mark.slow
def test_slack_post_answered_by_a_dropped_connection_is_uncertain(
    make_project: MakeProject,
) -> None:
    """The message may be in the channel: it is not posted again unless asked."""
    with fake_slack() as slack:
        slack.drop_post = True
        project = _with_slack_url(
            _project(make_project, SLACK, SLACK_BOT_TOKEN=TOKEN), slack.base_url
        )
        first = _send(project)
        mine = [m for m in first.messages if m.channel == "slack"]
        assert [m.state for m in mine] == ["uncertain"], mine
        slack.drop_post = False
        again = _send(project)
        assert len(slack.posts) == 1  # not twice
        assert [m.state for m in again.messages if m.channel == "slack"] == ["uncertain"]
        forced = _send(project, resend_uncertain=True)
        assert forced.ok and len(slack.posts) == 2


@pytest.mark.slow
def test_a_send_killed_while_its_webhook_post_is_in_flight(make_project: MakeProject) -> None:
    """kill -9 after the webhook took the post and before it answered: the next run does
    not post again (uncertain), the email it had already sent is not sent again either,
    and --resend-uncertain posts it once more."""
    import os
    import signal
    import subprocess
    import sys
    import time

    with webhook_receiver(1, 200) as hook:
        project = _project(make_project, "    webhook: {url: '${HOOK}'}\n", HOOK=hook.url)
        reportc.build(project, clock=lambda: FIXED_NOW)
        env = {**os.environ, "HOOK": hook.url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "reportc", "-C", str(project.root), "send"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not hook.bodies and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert hook.bodies, "the webhook never got the post"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outbox = sorted((project.root / "dist/outbox").glob("*.eml"))
        after = _send(load_project(project.root, environ={"HOOK": hook.url}))
        states = {(m.channel or "email"): m.state for m in after.messages}
        assert states == {"email": "skipped", "webhook": "uncertain"}, after.messages
        assert len(hook.bodies) == 1
        assert sorted((project.root / "dist/outbox").glob("*.eml")) == outbox
        forced = _send(
            load_project(project.root, environ={"HOOK": hook.url}), resend_uncertain=True
        )
        assert forced.ok and len(hook.bodies) == 2
