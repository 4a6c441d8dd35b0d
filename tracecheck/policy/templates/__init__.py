"""Commented policy templates (``tracecheck policy init --template NAME``)."""

from __future__ import annotations

from importlib import resources

from tracecheck.errors import UserError


def template_names() -> list[str]:
    """The templates shipped with tracecheck, by name (the file name without ``.yaml``)."""
    folder = resources.files(__name__)
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def template_text(name: str) -> str:
    """The template's text; an unknown name is a UserError listing the known ones."""
    if name not in template_names():
        raise UserError(f"no policy template '{name}'; available: {', '.join(template_names())}")
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
