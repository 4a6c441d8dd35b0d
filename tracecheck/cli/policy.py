"""`tracecheck policy init | check`: write a residency policy from a template, and validate one."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tracecheck.cli.app import app, settings
from tracecheck.errors import UserError

policy_app = typer.Typer(
    name="policy",
    help="Write residency policies from templates and check them.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")


@policy_app.command("init")
def init(
    template: str | None = typer.Option(None, "--template", "-t", help="gdpr-eu, uk-gdpr, lgpd-br or ccpa-us."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT if it exists."),
) -> None:
    """Write a commented policy template (to stdout unless -o is given)."""
    from tracecheck.policy.templates import template_names, template_text

    if not template:
        raise UserError(f"policy init needs --template NAME; available: {', '.join(template_names())}")
    text = template_text(template)
    if output is None:
        sys.stdout.write(text)
        return
    if output.exists() and not force:
        # A policy carries reviewed decisions (exceptions, justifications): never clobber one silently.
        raise UserError(f"{output} exists; choose another -o FILE or add --force to overwrite it")
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UserError(f"{output}: cannot write: {err.strerror or err}") from None
    if not settings.quiet:
        print(f"tracecheck: wrote the {template} policy to {output}; edit it, then run "
              f"`tracecheck policy check {output}`", file=sys.stderr)


@policy_app.command("check")
def check(
    file: Path | None = typer.Argument(None, help="The policy YAML file."),
    catalog: list[Path] = typer.Option([], "--catalog", help="Extra service catalog YAML the runs will use (repeatable)."),
) -> None:
    """Validate a policy: OK and a summary, or FILE:LINE and what is wrong (exit 2).

    Warns, with the line and the closest names, about exceptions, ignore entries and vendor
    rules that no service in the catalog can match."""
    from tracecheck.classify import load_catalog
    from tracecheck.policy.evaluate import today_utc
    from tracecheck.policy.lint import policy_warnings
    from tracecheck.policy.model import load_policy

    if file is None:  # said here, not by click, so that it is one line and exit 2 like every error
        raise UserError("policy check needs the policy FILE (write one with `tracecheck policy init --template gdpr-eu -o FILE`)")

    policy = load_policy(file)
    today = today_utc()
    for warning in policy_warnings(policy, today, load_catalog(extra=list(catalog))):
        print(f"tracecheck: warning: {warning}", file=sys.stderr)
    active = sum(1 for exc in policy.exceptions if exc.active_on(today))
    rules = [f"{category.value}: {rule.action if rule.action == 'ignore' else _rule_text(rule)}"
             for category, rule in policy.categories.items()]
    rules += [f"{vendor}: {rule.action if rule.action == 'ignore' else _rule_text(rule)}"
              for vendor, rule in policy.vendors.items()]
    lines = [
        f"OK {file}: policy '{policy.name}'",
        f"  authorized: {policy.authorized.describe()}",
        f"  rules: {'; '.join(rules) if rules else 'none'}",
        f"  exceptions: {len(policy.exceptions)} ({active} in force, {len(policy.exceptions) - active} expired)",
        f"  indeterminate: {policy.indeterminate}; tolerate_disagreement: {policy.tolerate_disagreement}",
        f"  scope: {_scope_text(policy)}; ignore entries: {len(policy.ignore)}",
        f"  site: {policy.site or 'not set'}",
        f"  sha256: {policy.sha256}",
    ]
    typer.echo("\n".join(lines))


def _rule_text(rule) -> str:
    parts = []
    if rule.authorized is not None:
        parts.append(f"authorized {rule.authorized.describe()}")
    if rule.indeterminate:
        parts.append(f"indeterminate {rule.indeterminate}")
    return ", ".join(parts) or "check"


def _scope_text(policy) -> str:
    scope = policy.scope
    parts = []
    if scope.start or scope.end:
        parts.append(f"{scope.start.isoformat() if scope.start else '...'} to {scope.end.isoformat() if scope.end else '...'}")
    if scope.clients:
        parts.append(f"clients {', '.join(scope.clients)}")
    if scope.sip_calls_only:
        parts.append("SIP calls only")
    return ", ".join(parts) or "everything captured"
