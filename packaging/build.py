"""``make package``: the icon (drawn by the app's own code), the PyInstaller one-folder bundle, and the Linux
desktop entry and AppStream metainfo installed into it (``dist/stage-tamagotchi/share/``).

``python packaging/build.py [--dist DIR] [--work DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.stage_tamagotchi.StageTamagotchi"


def write_icon(target: Path) -> None:
    """Tama's face at 256 px, rendered offscreen by :mod:`app.ui.app_icon`."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtGui import QGuiApplication  # noqa: PLC0415

    from app.ui.app_icon import face_pixmap  # noqa: PLC0415

    app = QGuiApplication.instance() or QGuiApplication([])
    target.parent.mkdir(parents=True, exist_ok=True)
    if not face_pixmap(256).save(str(target), "PNG"):
        raise SystemExit(f"could not write {target}")
    del app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    args = parser.parse_args()
    started = time.monotonic()
    icon = args.work / f"{APP_ID}.png"
    write_icon(icon)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level=WARN",
            f"--distpath={args.dist}",
            f"--workpath={args.work}",
            str(ROOT / "packaging" / "stage-tamagotchi.spec"),
        ],
        cwd=ROOT,
        check=True,
    )
    bundle = args.dist / "stage-tamagotchi"
    share = bundle / "share"
    for folder, source in (
        ("applications", ROOT / "packaging" / f"{APP_ID}.desktop"),
        ("metainfo", ROOT / "packaging" / f"{APP_ID}.metainfo.xml"),
        ("icons/hicolor/256x256/apps", icon),
    ):
        (share / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, share / folder / source.name)
    print(f"built {bundle} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
