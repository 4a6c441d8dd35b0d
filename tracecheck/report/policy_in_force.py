"""The policy in force, as a reviewer reads it beside the findings: where data may go, each
category and vendor rule, and each exception with its basis, expiry and what it matched here.
Built from report.json's ``policy`` only, so every page format says the same."""

from __future__ import annotations

from typing import Any


def policy_in_force(data: dict[str, Any]) -> dict[str, Any]:
    """``{"authorized", "indeterminate", "rules": [...], "exceptions": [...]}`` as lines of text."""
    policy = data["policy"]
    rules = []
    for rule in policy.get("rules", []):
        if rule["action"] == "ignore":
            where = "ignored (not assessed)"
        else:
            where = "may go to " + (", ".join(rule["authorized"]) or "nowhere")
        rules.append({"entry": rule["entry"], "where": where,
                      "indeterminate": rule.get("indeterminate", ""), "reason": rule.get("reason", "")})
    exceptions = []
    for exception in policy.get("exceptions", []):
        selector = ", ".join(f"{key} {value}" for key, value in sorted(exception.get("selector", {}).items()))
        if exception.get("applied"):
            use = "allowed " + ", ".join(exception["applied"])
        elif exception.get("matched"):
            use = "covered " + ", ".join(exception["matched"]) + " (compliant without it)"
        else:
            use = "matched nothing in this capture"
        exceptions.append({
            "id": exception["id"], "covers": selector or "everything",
            "places": ", ".join(exception.get("places", [])) or "anywhere",
            "basis": " — ".join(p for p in (exception.get("justification", ""), exception.get("reference", "")) if p),
            "expires": exception["expires"] + ("" if exception["active"] else " (expired)"),
            "use": use,
        })
    return {"authorized": ", ".join(policy["authorized"]) or "nowhere",
            "indeterminate": policy.get("indeterminate", ""), "rules": rules, "exceptions": exceptions}
