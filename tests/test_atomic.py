"""Atomic writes: the old file or the new one, never a partial one, and no temporary left."""

import os
from pathlib import Path

import pytest

from fgamcd_env.atomic import atomic_write, atomic_write_text


def test_atomic_write_replaces_or_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.csv"
    atomic_write_text(path, "old\n")
    assert path.read_text() == "old\n"
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write("half of the new")
        raise RuntimeError("killed midway")
    assert path.read_text() == "old\n"  # untouched
    with atomic_write(path, "wb") as fh:
        fh.write(b"new\n")
    assert path.read_bytes() == b"new\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.csv"]  # no temporary left
    with pytest.raises(ValueError, match="mode"):
        atomic_write(path, "a").__enter__()


def test_atomic_write_gives_the_umask_mode(tmp_path: Path) -> None:
    """Like ``open``: 0o666 less the umask, not the temporary file's 0o600."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
