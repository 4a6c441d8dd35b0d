"""The command line: thin wiring of the stages, one module per command group."""

from __future__ import annotations

import sys

from tracecheck.cli.app import app
from tracecheck.errors import UserError

# Importing a command module registers its commands on ``app``.
from tracecheck.cli import flows, names  # noqa: E402,F401
from tracecheck.cli import policy  # noqa
from tracecheck.cli import db, lookup  # noqa


def main() -> None:
    """Entry point: every failure a user can cause ends in one line on stderr and exit 2."""
    try:
        app(standalone_mode=False)
    except UserError as err:
        print(f"tracecheck: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("tracecheck: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # click usage errors and the like
        import click

        if isinstance(err, click.exceptions.ClickException):
            print(f"tracecheck: {err.format_message()}", file=sys.stderr)
            sys.exit(2)
        if isinstance(err, click.exceptions.Exit):
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):
            sys.exit(130)
        raise
