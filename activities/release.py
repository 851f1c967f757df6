"""What a plan was made with: the planning code and the time-zone rules, as one fingerprint.

A plan is a function of a lifecycle's events, its settings and its done steps, computed by the
planners of `domain/` (through activities/planning.py) with the machine's time-zone database. A
lifecycle keeps its plan across a send it did not depend on as long as the worker that sent runs the
same planning code and zone rules (workflows/lifecycle.py): a release that touches any of those files,
or a tz database update, changes the fingerprint, and running lifecycles plan again at their next
message.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

# The folder holding the `domain` and `activities` packages (the repository, or site-packages).
ROOT = Path(__file__).resolve().parent.parent


def planning_sources(root: Path) -> list[Path]:
    """Every file whose code a plan depends on: the domain's modules and the planning activities."""
    return [*sorted((root / "domain").glob("*.py")), root / "activities" / "planning.py"]


def fingerprint(root: Path, zone_rules: Iterable[str]) -> str:
    """A short digest of the planning code under `root` (by path and content) and the zone rules."""
    digest = hashlib.sha256()
    for path in planning_sources(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    for version in zone_rules:
        digest.update(version.encode())
    return digest.hexdigest()[:16]


def zone_rule_versions() -> list[str]:
    """The versions of the zone databases `zoneinfo` may read: the system's first, then the tzdata wheel's."""
    versions = []
    for folder in zoneinfo.TZPATH:
        index = Path(folder) / "tzdata.zi"
        if index.is_file():
            with index.open(encoding="utf-8", errors="replace") as lines:
                versions.append(lines.readline().strip())  # "# version 2025b"
    try:
        versions.append(f"tzdata {metadata.version('tzdata')}")
    except metadata.PackageNotFoundError:
        pass
    return versions


@cache
def current() -> str:
    """This worker's fingerprint, read once."""
    return fingerprint(ROOT, zone_rule_versions())
