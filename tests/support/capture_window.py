"""A real Qt window (xcb) holding an AcceleratorField; prints each captured accelerator, for tests on Xvfb.

``python -m tests.support.capture_window``: prints ``ready WINDOW_ID``, then one line per capture or refusal.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from app.shortcuts.accelerator import Accelerator
from app.ui.accelerator_field import AcceleratorField


def main() -> int:
    app = QApplication(sys.argv)
    field = AcceleratorField(platform="linux")

    def captured(accelerator: Accelerator) -> None:
        print(f"captured {accelerator.canonical()}", flush=True)

    field.captured.connect(captured)
    field.refused.connect(lambda message: print(f"refused {message}", flush=True))
    field.show()
    field.setFocus()
    print(f"ready {int(field.winId())} {app.platformName()}", flush=True)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
