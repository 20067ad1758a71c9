"""The dashboard's files: vendored uPlot intact, nothing loaded from elsewhere, packaged."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest

from prescientd.web.app import STATIC_DIR

ROOT = Path(__file__).parents[2]
UPLOT = STATIC_DIR / "vendor" / "uplot"


def _recorded_checksums() -> dict[str, str]:
    lines = (UPLOT / "VERSION").read_text(encoding="utf-8").splitlines()
    return {
        m.group(2): m.group(1)
        for line in lines
        if (m := re.fullmatch(r"([0-9a-f]{64})  (\S+)", line))
    }


def test_uplot_files_match_their_recorded_sha256() -> None:
    """uPlot's JS, CSS and licence are byte-identical to the npm package recorded in VERSION."""
    recorded = _recorded_checksums()
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((UPLOT / name).read_bytes()).hexdigest() == digest, name


def test_uplot_version_and_licence() -> None:
    """VERSION names the release; the licence is MIT."""
    version = (UPLOT / "VERSION").read_text(encoding="utf-8").splitlines()[0]
    assert re.match(r"uPlot \d+\.\d+\.\d+ \(MIT\)", version)
    assert "MIT License" in (UPLOT / "LICENSE").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["index.html", "app.js", "charts.js", "app.css"])
def test_no_outside_urls(name: str) -> None:
    """The dashboard loads nothing from another host (it must work without internet)."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)


@pytest.mark.parametrize("name", ["app.js", "charts.js"])
def test_no_html_injection_sinks(name: str) -> None:
    """Outside text is only ever set as textContent: no innerHTML or document.write."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", text)


def test_static_files_are_package_data() -> None:
    """pyproject's package-data globs cover every static file (so installed daemons serve them)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]["prescientd"]
    package = ROOT / "daemon" / "prescientd"
    covered = {p for pattern in globs for p in package.glob(pattern) if p.is_file()}
    files = {p for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert files and files <= covered, sorted(str(p) for p in files - covered)
