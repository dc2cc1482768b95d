"""Open a self-contained HTML report in headless Chromium and count the images that decoded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# counts, after the load event, the images that decoded to a non-empty bitmap
_COUNT_IMAGES = (
    "<script>window.addEventListener('load',()=>{const im=[...document.images];"
    "const ok=im.filter(i=>i.complete&&i.naturalWidth>0).length;"
    "document.body.setAttribute('data-images-loaded',ok+'/'+im.length);});</script>"
)


#: Headless Chromium that opens no connection of its own (this machine's network is closed).
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def rendered_dom(report: Path, tmp_path: Path) -> str:
    """The DOM of ``report`` after Chromium loaded it, its <body> given
    ``data-images-loaded="<decoded>/<all>"``; skips the test without Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (Debian package 'chromium'; .ci/run installs it)")
    html = report.read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _COUNT_IMAGES + "</body>"), encoding="utf-8")
    flags = [
        *OFFLINE_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    return subprocess.run(
        [chromium, *flags, "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
