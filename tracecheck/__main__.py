"""`python -m tracecheck` runs the command line, as the `tracecheck` script does."""

from tracecheck.cli import main

if __name__ == "__main__":
    main()
