"""`python -m tracecheck` runs the command line, as the `tracecheck` script does."""

from tracecheck.cli import run

if __name__ == "__main__":
    run()
