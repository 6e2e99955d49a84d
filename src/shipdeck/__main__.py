"""`python -m shipdeck` runs the `shipdeck` command."""

from shipdeck.cli import main

main()
