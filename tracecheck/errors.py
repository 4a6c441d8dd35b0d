"""The one error users see: bad input, said in one line, exit code 2."""


class UserError(Exception):
    """Bad input or usage. The CLI prints ``str(err)`` on one line and exits 2."""

    exit_code = 2
