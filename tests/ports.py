"""A free loopback port for a server a test (or a benchmark) starts: a fake provider, the API, a
Temporal dev server.

Asking the kernel for port 0 and closing the socket leaves a race: the port comes from the
ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), the same range every outgoing connection
of the suite's processes draws from (gRPC to Temporal, PostgreSQL, HTTP to the fakes), so by the
time the server binds it, a client socket may hold it. CI lost a run to that ("address already in
use" on a fake's port). A port below the ephemeral range is never handed to a client socket; it
can collide only with another server picked the same way, among thousands of ports.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000
RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port on 127.0.0.1 no one listens on now, outside the ephemeral range where there is room."""
    top = _ephemeral_start()
    candidates = range(LOWEST, top) if top - LOWEST >= 1000 else range(1024, top)
    for port in random.sample(candidates, k=min(50, len(candidates))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # a crowded machine: let the kernel pick
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
