"""`python -m tracecheck`: the same as the `tracecheck` command."""

from tracecheck.cli import main

main()
