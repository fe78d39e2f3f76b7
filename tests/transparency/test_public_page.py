"""The published report's public page renders in a real headless browser, with its charts,
and the screenshot is kept in var/screenshots/transparency/."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests
from django.conf import settings

from accounts.audit import AuditContext
from accounts.models import User
from federation.transparency.models import TransparencyReport
from federation.transparency.services import (
    transparency_report_generate,
    transparency_report_mark_previewed,
    transparency_report_publish,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="headless Chromium is not installed (apt chromium)"
)
def test_the_public_report_page_renders_in_headless_chromium(
    transactional_db, live_server, demo_period, tmp_path
):
    start, end = demo_period
    staff = AuditContext(user=User.objects.get(email="governance@consortium.example"))
    report = TransparencyReport.objects.create(
        title="Demo transparency report", period_start=start, period_end=end
    )
    report = transparency_report_generate(report_pk=report.pk)
    transparency_report_mark_previewed(report=report, context=staff)
    transparency_report_publish(report=report, context=staff)
    url = f"{live_server.url}/transparency/{report.public_id}/"

    html = requests.get(url, timeout=10)
    assert html.status_code == 200
    assert "<script" not in html.text  # charts are drawn on the server
    assert html.text.count("<svg") >= 8

    # A folder of its own: the portal's browser test owns the top-level screenshots.
    screenshots = settings.BASE_DIR / "var" / "screenshots" / "transparency"
    screenshots.mkdir(parents=True, exist_ok=True)
    screenshot = screenshots / "public-report.png"
    screenshot.unlink(missing_ok=True)
    completed = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium'}",
            f"--screenshot={screenshot}",
            "--window-size=1280,2000",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    content = screenshot.read_bytes()
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(content) > 20_000  # a rendered page, not a blank one
