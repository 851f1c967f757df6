"""What a plan was made with: the planning code and the time-zone rules, as one fingerprint.

A plan is a function of a lifecycle's events, its settings and its done steps, computed by the code
of this package with the time-zone database of the machine. A lifecycle keeps a plan across a send
it did not depend on as long as the worker that sent runs the same planning code and zone rules
(workflows/lifecycle.py): a release or a tz database update changes the fingerprint, and running
lifecycles plan again at their next message.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).parent


def fingerprint(sources: Iterable[Path], zone_rules: Iterable[str]) -> str:
    """A short digest of the planning code (every file given, by name and content) and the zone rules."""
    digest = hashlib.sha256()
    for path in sorted(sources, key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for version in zone_rules:
        digest.update(version.encode())
    return digest.hexdigest()[:16]


def zone_rule_versions() -> list[str]:
    """The versions of the zone databases `zoneinfo` may read: the system's first, then the tzdata wheel's."""
    versions = []
    for root in zoneinfo.TZPATH:
        index = Path(root) / "tzdata.zi"
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
    """This process's fingerprint: the `domain` package's modules and the zone rules it reads."""
    return fingerprint(PACKAGE.glob("*.py"), zone_rule_versions())
