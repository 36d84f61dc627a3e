from officesync.cli import main

main()
