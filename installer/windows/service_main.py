"""Entry script of officesync-service.exe (PyInstaller): the Windows service host."""

import sys

from agent.service.windows import main

if __name__ == "__main__":
    sys.exit(main())
