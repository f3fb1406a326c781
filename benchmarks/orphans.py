"""No orphans: the processes a ``fgamcd-bench run`` starts end when it dies, even by SIGKILL.

A SIGKILL runs no handler, so the driver cannot stop its helpers itself; they watch it instead.

- Pool workers call :func:`exit_with_parent` from the pool's initializer. On Linux the kernel
  sends them SIGTERM when the driver dies (``prctl(PR_SET_PDEATHSIG)``); on every platform a
  daemon thread polls ``os.getppid()`` and sends the same SIGTERM when the parent changes.
  SIGTERM is the driver's own stop signal, so a training finishes its episode and checkpoints
  (``agents.train.stop_after_episode``; a repeated SIGTERM changes nothing), any other cell
  stops at once, and a worker still alive ``grace_s`` later exits. The kernel's signal comes
  when the *thread* that started the worker ends: the runner starts and feeds its pool from one
  thread, which outlives the workers.
- The pool and an embedded Ray instance (``--ray-address local``) run inside
  :class:`Guardian`: a small process that, if the driver ends without saying it is done,
  terminates the driver's descendants and every process that inherited the run's mark
  (SIGTERM, then SIGKILL after ``grace_s``). For the pool it ends what the workers started: a
  process a worker forks (Table III's time-capped SDP solves) inherits neither the
  parent-death signal nor the watchdog thread, and loses its parent as the worker exits. Ray
  ties gcs_server and the raylet to the driver and the task workers to the raylet, but its
  dashboard and runtime-env agents first report the raylet's death to the GCS, which died
  with the driver: with Ray 2.60 they stayed up 60 s after a SIGKILL of the driver. The
  guardian reads ``/proc``, so it runs on Linux only.

Tasks on an external Ray cluster need neither: Ray stops a dead driver's tasks (its workers exit
and queued tasks never start), which ``tests/test_bench_processes.py`` checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
RUN_ENV = "FGAMCD_BENCH_RUN"  # set by Guardian: every process of the run inherits it
_DONE = b"done\n"


# ----------------------------------------------------------------------------- pool workers
def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Returns whether it is armed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(parent: int, grace_s: float, interval_s: float = 1.0) -> bool:
    """End this process when ``parent`` (its parent's pid) dies: SIGTERM at once, exit after
    ``grace_s``. Returns whether the kernel's parent-death signal is armed (the polling thread
    runs either way)."""
    armed = set_parent_death_signal(signal.SIGTERM)
    thread = threading.Thread(
        target=_watch_parent,
        args=(parent, grace_s, interval_s),
        name="exit-with-parent",
        daemon=True,
    )
    thread.start()
    if os.getppid() != parent:  # died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
    return armed


def _watch_parent(parent: int, grace_s: float, interval_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval_s)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    os._exit(128 + signal.SIGTERM)


# ----------------------------------------------------------------------------- process tree
def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text.rsplit(b")", 1)[1].split()  # the command name may hold spaces and ")"
    if fields[0] in (b"Z", b"X"):  # zombie or dead: nothing left to stop
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: {pid: start time} (start times tell a reused pid)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = stats[child][1]
                todo.append(child)
    return found


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] == start


def terminate(procs: dict[int, int], grace_s: float) -> None:
    """SIGTERM the processes of ``procs`` ({pid: start time}) still alive, SIGKILL those that
    outlive ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        live = {p: s for p, s in procs.items() if _alive(p, s)}
        for pid in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 1.0)
        while live and time.monotonic() < deadline:
            time.sleep(0.05)
            live = {p: s for p, s in live.items() if _alive(p, s)}
        if not live:
            return


def marked(token: str) -> dict[int, int]:
    """Live processes whose environment holds ``RUN_ENV=token``: {pid: start time}. Children
    inherit the environment, so this finds what a run started even after its parents died
    (only this user's processes are readable)."""
    needle = f"{RUN_ENV}={token}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if needle in env and (st := _stat(int(entry))) is not None:
            found[int(entry)] = st[1]
    return found


def guard(parent: int, token: str, interval_s: float, grace_s: float) -> int:
    """The guardian's loop (see :class:`Guardian`); reads "done" or EOF on stdin."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop signals are for the driver to handle
        signal.signal(sig, signal.SIG_IGN)
    me = os.getpid()
    known: dict[int, int] = {}
    fd = sys.stdin.fileno()
    data = b""
    while True:
        known = {p: s for p, s in known.items() if _alive(p, s)} | descendants(parent)
        ready, _, _ = select.select([fd], [], [], interval_s)
        if not ready:
            continue
        chunk = os.read(fd, 64)
        data += chunk
        if data.startswith(_DONE):
            return 0
        if not chunk:  # EOF without "done": the driver died
            break
    # The orphans now hang below init: the recorded ones, what they started since the last
    # scan, and whatever carries the run's mark (e.g. a process forked just before the kill
    # by a worker that died with the driver).
    victims = dict(known)
    for pid in list(known):
        victims |= descendants(pid)
    victims |= marked(token)
    victims.pop(me, None)
    terminate(victims, grace_s)
    return 1


class Guardian:
    """Context manager: a guardian process for what this process starts inside the block
    (Linux; a no-op elsewhere). Leaving the block, normally or by an exception, tells it not
    to act.

    Inside the block the environment holds ``FGAMCD_BENCH_RUN=<token>``, which every process
    started meanwhile inherits. The guardian records this process's descendants every
    ``interval_s``; if this process ends without a word, it terminates the recorded ones, their
    descendants and every process carrying the token (SIGTERM, SIGKILL after ``grace_s``).
    """

    def __init__(self, interval_s: float = 0.5, grace_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.token = uuid.uuid4().hex
        self.proc: subprocess.Popen[bytes] | None = None
        self._saved: str | None = None

    def __enter__(self) -> Guardian:
        if not sys.platform.startswith("linux") or not os.path.isdir("/proc"):
            return self
        root = str(Path(__file__).resolve().parent.parent)  # this checkout, if not installed
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.orphans",
                str(os.getpid()),
                self.token,
                str(self.interval_s),
                str(self.grace_s),
            ],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        self._saved = os.environ.get(RUN_ENV)
        os.environ[RUN_ENV] = self.token
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if self._saved is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = self._saved
        with contextlib.suppress(OSError):  # BrokenPipeError if it is gone already
            proc.stdin.write(_DONE)
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(guard(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
