"""Tray tests run without a display: pystray's dummy backend, unless a test process sets one.

pystray picks and loads its backend on import (the xorg one connects to $DISPLAY), so the
choice must be made before anything imports it; the smoke test runs the real tray in a
subprocess with its own environment.
"""

from __future__ import annotations

import os
import sys

if "pystray" not in sys.modules:
    os.environ["PYSTRAY_BACKEND"] = "dummy"
