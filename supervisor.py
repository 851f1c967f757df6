"""The processes of `cli.py run`: started in order, stopped in reverse, never left behind.

Each child runs in its own process group (the terminal's Ctrl-C reaches only the supervisor, which
stops them in order) and, on Linux, asks the kernel for SIGTERM when the supervisor dies
(PR_SET_PDEATHSIG): a supervisor killed with SIGKILL, whose own cleanup never runs, still takes
its stack with it. The pids are recorded in `<data dir>/run.pid`, locked while the supervisor
lives, so a second `run` on the same data dir finds them and refuses instead of starting a second
worker on the same task queue.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, NoReturn

from config import Settings

# Run as `python -c DIE_WITH_PARENT <supervisor pid> <argv...>`: prctl(PR_SET_PDEATHSIG, SIGTERM),
# then exit if the supervisor already died (nobody would tell us), else become argv (same pid).
DIE_WITH_PARENT = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""
# The variables that decide which task queue a worker polls, and the Settings field of each.
QUEUE = {"TEMPORAL_ADDRESS": "temporal_address", "NUDGEFLOW_TASK_QUEUE": "task_queue"}
STOP_GRACE_S = 15.0  # more than the worker's drain (config.worker_drain_timeout, 10 s by default)


class ChildExited(Exception):
    """One of the supervised processes ended on its own."""


class StaleStack(Exception):
    """A stack from an earlier `run` still lives, or holds a port this one needs."""


class Stack:
    """The child processes of `run`, recorded in `<data dir>/run.pid` while they live."""

    def __init__(self, data_dir: Path, root: Path) -> None:
        self.root = root
        self.record_path = data_dir / "run.pid"
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._record: IO[str] | None = None

    def claim(self, ports: dict[str, tuple[str, int]], settings: Settings) -> None:
        """Take the data dir, check the ports (name -> host, port) and the task queue, or raise StaleStack."""
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        record = open(self.record_path, "a+")
        try:
            fcntl.flock(record, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record.close()
            raise StaleStack(self._running_message()) from None
        self._record = record
        recorded = {process["pid"] for process in self._recorded()}
        problems = [*self._orphans(), *_taken(ports), *_stray_workers(self.root, settings, recorded)]
        if problems:
            self.release()
            raise StaleStack("nudgeflow: cannot start:\n  " + "\n  ".join(problems))
        self._write()

    def start(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(_dying_with_us(argv), cwd=self.root, process_group=0)
        self._write()

    def check(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise ChildExited(f"{name} exited with code {child.returncode}")

    def watch(self) -> NoReturn:
        while True:
            self.check()
            time.sleep(0.5)

    def stop(self) -> None:
        # Newest first: the API and worker go before the Temporal server they talk to.
        for name, child in reversed(self.children.items()):
            _signal_group(child.pid, signal.SIGTERM)
            try:
                child.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                print(
                    f"nudgeflow: {name} ignored SIGTERM for {STOP_GRACE_S:.0f} s: killing it", file=sys.stderr
                )
            _signal_group(child.pid, signal.SIGKILL)  # whatever it spawned, in its group
            child.wait()
        self.children.clear()
        self.release()

    def release(self) -> None:
        if self._record is not None:
            self._record.truncate(0)
            self._record.close()  # and with it the lock
            self._record = None

    def _write(self) -> None:
        assert self._record is not None
        pids = {"the supervisor (cli.py run)": os.getpid()}
        pids.update((name, child.pid) for name, child in self.children.items())
        processes = [{"name": name, "pid": pid, "started": _start_time(pid)} for name, pid in pids.items()]
        self._record.seek(0)
        self._record.truncate()
        self._record.write(json.dumps(processes))
        self._record.flush()

    def _recorded(self) -> list[dict[str, Any]]:
        try:
            processes: list[dict[str, Any]] = json.loads(self.record_path.read_text() or "[]")
        except (OSError, ValueError):
            return []  # being rewritten this instant, or not ours: the lock still says a run lives
        return [p for p in processes if _alive(p["pid"], p.get("started"))]

    def _running_message(self) -> str:
        processes = self._recorded()
        pids = ", ".join(f"pid {p['pid']} {p['name']}" for p in processes) or "pids not readable"
        supervisor = processes[0]["pid"] if processes else "<pid>"
        return (
            f"nudgeflow: a stack is already running on the data dir {self.record_path.parent}: {pids}.\n"
            f"  Stop it with Ctrl-C in its terminal, or `kill {supervisor}` (it stops the rest), "
            "or give this one another NUDGEFLOW_DATA_DIR and ports."
        )

    def _orphans(self) -> list[str]:
        """Children of a supervisor that died without taking them along (not Linux, or an old version)."""
        orphans = [p for p in self._recorded() if p["pid"] != os.getpid()]
        if not orphans:
            return []
        pids = ", ".join(f"pid {p['pid']} {p['name']}" for p in orphans)
        groups = " ".join(f"-{p['pid']}" for p in orphans)
        return [f"processes of an earlier run still live: {pids}; stop them with `kill -TERM -- {groups}`"]


def _stray_workers(root: Path, settings: Settings, recorded: set[int]) -> list[str]:
    """`worker.py` processes of this checkout on our Temporal and task queue that no `run` recorded.

    Orphans of a `run` from before children died with it, or a worker started by hand and forgotten:
    they hold no port, and would take this run's tasks with whatever code they loaded. Linux only.
    """
    ours = {name: str(getattr(settings, field)) for name, field in QUEUE.items()}
    strays = []
    for proc in Path("/proc").glob("[0-9]*"):
        environ = _worker_environ(proc, root)
        if environ is None or int(proc.name) in recorded:
            continue
        theirs = {
            name: environ.get(name, Settings.model_fields[field].default) for name, field in QUEUE.items()
        }
        if theirs == ours:
            strays.append(proc.name)
    if not strays:
        return []
    queue = f"{settings.task_queue} on {settings.temporal_address}"
    pids = ", ".join(f"pid {pid}" for pid in strays)
    return [f"a worker no run started polls {queue}: {pids}; stop it with `kill {' '.join(strays)}`"]


def _worker_environ(proc: Path, root: Path) -> dict[str, str] | None:
    """The environment of a `worker.py` process running in `root`; None for any other process."""
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        if b"worker.py" not in (arg.rsplit(b"/", 1)[-1] for arg in argv[1:3]):
            return None
        if Path(os.readlink(proc / "cwd")) != root:
            return None
        variables = (proc / "environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None  # gone meanwhile, or another user's
    return dict(variable.split("=", 1) for variable in variables if "=" in variable)


def _dying_with_us(argv: list[str]) -> list[str]:
    """The command behind a few lines of Python that first ask the kernel for SIGTERM when we die.

    Not preexec_fn: it runs Python between fork and exec, unsafe beside the threads the Temporal
    client has started by then. PR_SET_PDEATHSIG survives the exec; Linux only.
    """
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *argv]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass  # the whole group is already gone


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), so a reused pid is not taken for it; Linux only."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: the pid was reused
    return started is None or _start_time(pid) in (None, started)


def _taken(ports: dict[str, tuple[str, int]]) -> list[str]:
    problems = []
    for name, (host, port) in ports.items():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                problems.append(f"port {port} ({name}) is taken{_owner(port)}")
    return problems


def _owner(port: int) -> str:
    """`by pid N (command)` for the process listening on the port, where /proc tells; else a hint."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd") if inodes else ():
        try:
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                return f" by pid {fd_dir.parent.name} ({command[:80]}): stop it or choose another port"
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return f": stop what listens there (`lsof -i :{port}`) or choose another port"
