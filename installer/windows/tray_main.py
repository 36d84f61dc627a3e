"""Entry script of officesync-tray.exe (PyInstaller, no console window): `officesync tray`."""

import sys

from officesync.cli import main

if __name__ == "__main__":
    main(args=["tray", *sys.argv[1:]], prog_name="officesync")
