"""`python -m cli`: the same as the `endoscribe` command."""

from cli.app import main

main()
