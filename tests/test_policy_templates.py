"""The policy templates' commented examples work when uncommented.

A user edits a template by removing the ``# `` of an example.  An *example line* is a comment
whose text after ``# `` is YAML: ``key:`` or ``- ...`` (prose never starts with ``word:``);
consecutive example lines are one *block*.  Each block, uncommented alone and all together,
must give a valid policy -- ``exceptions: []`` above an indented example did not.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from cli_runner import run
from tracecheck.policy.lint import policy_warnings
from tracecheck.policy.model import parse_policy
from tracecheck.policy.templates import template_names, template_text

EXAMPLE = re.compile(r"^(?P<indent>\s*)# (?P<text>\s*(?:- |[A-Za-z_][\w.-]*:(?:\s|$)).*)$")
JUNE_2026 = "1780272000"  # 2026-06-01: before every example exception expires


def example_blocks(text: str) -> list[list[int]]:
    """The line numbers (0-based) of each run of consecutive example lines."""
    blocks: list[list[int]] = []
    previous = -2
    for number, line in enumerate(text.splitlines()):
        if EXAMPLE.match(line):
            if number == previous + 1:
                blocks[-1].append(number)
            else:
                blocks.append([number])
            previous = number
    return blocks


def uncomment(text: str, numbers: list[int]) -> str:
    lines = text.splitlines()
    for number in numbers:
        match = EXAMPLE.match(lines[number])
        lines[number] = match["indent"] + match["text"]
    return "\n".join(lines) + "\n"


def test_the_example_finder_finds_examples_and_leaves_prose():
    text = "a:\n  # b: 1\n  #   c: 2\n# Note that prose: is prose\n# site: Dublin\n#   none   what none means\n"
    assert example_blocks(text) == [[1, 2], [4]]
    assert uncomment(text, [1, 2]).splitlines()[1:3] == ["  b: 1", "    c: 2"]


@pytest.mark.parametrize("name", template_names())
def test_every_example_block_uncommented_alone_is_a_valid_policy(name):
    text = template_text(name)
    blocks = example_blocks(text)
    assert blocks, f"{name} has no commented examples"
    for block in blocks:
        policy = parse_policy(uncomment(text, block), f"{name}.yaml")  # a UserError fails the test with its line
        assert policy.name == name


@pytest.mark.parametrize("name", template_names())
def test_every_example_uncommented_at_once_is_a_valid_policy(name):
    text = template_text(name)
    policy = parse_policy(uncomment(text, [n for block in example_blocks(text) for n in block]), f"{name}.yaml")
    assert len(policy.exceptions) == 1
    assert not policy_warnings(policy, date(2026, 6, 1))  # the example exception is in force, not expiring


@pytest.mark.parametrize("name", template_names())
def test_the_uncommented_exception_example_passes_policy_check(monkeypatch, capsys, tmp_path, name):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", JUNE_2026)
    text = template_text(name)
    [block] = [block for block in example_blocks(text) if "- id:" in text.splitlines()[block[0]]]
    path = tmp_path / f"{name}.yaml"
    path.write_text(uncomment(text, block))
    code, out, err = run(monkeypatch, capsys, "policy", "check", str(path))
    assert code == 0 and err == "", err  # no warning: the vendor is in the catalog, the date ahead
    assert "exceptions: 1 (1 in force, 0 expired)" in out


@pytest.mark.parametrize("name", template_names())
def test_templates_as_shipped_are_unchanged_in_meaning(name):
    policy = parse_policy(template_text(name), f"{name}.yaml")
    assert (policy.exceptions, policy.ignore, dict(policy.vendors)) == ([], [], {})
    assert {category.value: rule.action for category, rule in policy.categories.items()} == {"telemetry": "ignore"}


@pytest.mark.parametrize("key, empty", [("exceptions", []), ("ignore", []), ("vendors", {}), ("categories", {})])
def test_a_key_with_nothing_under_it_is_empty(key, empty):
    policy = parse_policy(f"name: x\nauthorized:\n  jurisdictions: [EU]\n  countries:\n{key}:\nscope:\n", "p.yaml")
    assert getattr(policy, key) == empty and policy.authorized.countries == [] and not policy.scope.clients


def test_the_category_list_names_analytics_after_cdn():
    assert "identity, cdn, analytics,\n# telemetry, other." in template_text("gdpr-eu")
