"""The build cache of compiled programs: what it holds, how big it is, and pruning it.

    python -m protocols.cache                      # list the build folders, their size and last use
    python -m protocols.cache --prune-days 30      # remove folders unused for 30 days
    python -m protocols.cache --clear              # remove every folder not in use

The cache lives in ``~/.cache/brp_snn`` (``BRP_SNN_CACHE``, or ``--cache-dir`` of the protocols).
A folder in use (held by a running process) is never removed.  Data sets are stored once in
``arrays/`` and hard-linked into the build folders that read them, so sizes count every file once.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
from pathlib import Path

from models import devices
from protocols.cli import OneLineParser, positive

MIB = 1 << 20


def build_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*_standalone-*") if p.is_dir())


def in_use(folder: Path) -> bool:
    """Whether a process holds the folder (its lock file, see :class:`models.devices.StandaloneBuild`)."""
    lock_path = Path(f"{folder}.lock")
    if not lock_path.exists():
        return False
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def last_used(folder: Path) -> float:
    """Seconds since the epoch of the folder's last use (its lock is rewritten at each use)."""
    lock_path = Path(f"{folder}.lock")
    return (lock_path if lock_path.exists() else folder).stat().st_mtime


def disk_bytes(paths, seen: set) -> int:
    """Bytes of the files under ``paths``, each file (inode) counted once over every call sharing ``seen``."""
    total = 0
    for path in paths:
        for file in [path] if path.is_file() else path.rglob("*"):
            info = file.lstat()
            if file.is_file() and not file.is_symlink() and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def describe(folder: Path) -> str:
    record = folder / devices.BUILD_RECORD
    if not record.exists():
        return "(no build record)"
    info = json.loads(record.read_text())
    return f"{info.get('host', '?')}  {info.get('key', '?')[:60]}"


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for suffix in (".lock", ".build.lock"):
        Path(f"{folder}{suffix}").unlink(missing_ok=True)


def drop_unlinked_arrays(root: Path) -> None:
    """Stored arrays that no build folder links any more."""
    for stored in (root / devices.SHARED_ARRAYS).glob("*"):
        if stored.is_file() and stored.stat().st_nlink == 1:
            stored.unlink()


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m protocols.cache", description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=devices.DEFAULT_CACHE, help="the cache (default %(default)s)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--prune-days", type=positive(float), metavar="DAYS", help="remove folders unused for DAYS")
    group.add_argument("--clear", action="store_true", help="remove every folder not in use")
    args = parser.parse_args(argv)
    root = args.cache_dir.expanduser().absolute()
    if not root.is_dir():
        print(f"{parser.prog}: error: no build cache at {root}", file=sys.stderr)
        return 2
    now = time.time()
    if args.clear or args.prune_days is not None:
        removed = []
        for folder in build_folders(root):
            old = args.clear or now - last_used(folder) > args.prune_days * 86400
            if old and not in_use(folder):
                size = disk_bytes([folder], set())
                remove(folder)
                removed.append((folder.name, size))
        drop_unlinked_arrays(root)
        for name, size in removed:
            print(f"removed {name} ({size / MIB:.1f} MiB)")
        print(f"removed {len(removed)} build folders")
    seen: set = set()
    store = root / devices.SHARED_ARRAYS
    shared = disk_bytes([store], seen) if store.exists() else 0  # counted once, not in the folders that link them
    print(f"build cache {root}")
    for folder in build_folders(root):
        own = disk_bytes([folder], seen)
        days = (now - last_used(folder)) / 86400
        state = "in use" if in_use(folder) else f"used {days:.1f} days ago"
        print(f"  {folder.name}  {own / MIB:8.1f} MiB  {state}  {describe(folder)}")
    rest = disk_bytes([p for p in root.iterdir() if p.name != devices.SHARED_ARRAYS], seen)
    print(f"  shared data arrays {shared / MIB:.1f} MiB, other files {rest / MIB:.1f} MiB")
    print(f"total {disk_bytes([root], set()) / MIB:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
