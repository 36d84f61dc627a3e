"""Entry script of officesync.exe (PyInstaller): the `officesync` command line."""

from officesync.cli import main

if __name__ == "__main__":
    main(prog_name="officesync")
