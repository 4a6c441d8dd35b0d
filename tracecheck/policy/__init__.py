"""Policy: services and places to verdicts, under a residency policy the user writes in YAML."""

from tracecheck.policy.evaluate import assess, evaluate, exit_code, flow_in_scope, judged, overall_verdict
from tracecheck.policy.lint import policy_warnings
from tracecheck.policy.model import Policy, load_policy, parse_policy
from tracecheck.vocabulary import Assessment, Destination

__all__ = ["Assessment", "Destination", "Policy", "assess", "evaluate", "exit_code", "flow_in_scope", "judged",
           "load_policy", "overall_verdict", "parse_policy", "policy_warnings"]
