"""Policy: services and places to verdicts, under a residency policy the user writes in YAML."""

from tracecheck.policy.evaluate import (
           Assessment,
           Destination,
           assess,
           evaluate,
           exit_code,
           flow_in_scope,
           overall_verdict,
)
from tracecheck.policy.model import Policy, load_policy, parse_policy, policy_warnings

__all__ = ["Assessment", "Destination", "Policy", "assess", "evaluate", "exit_code", "flow_in_scope",
           "load_policy", "overall_verdict", "parse_policy", "policy_warnings"]
