"""Flows and names from network sensors' logs (Zeek, Suricata eve.json) instead of a capture.

Sensors that already run at scale write conn/ssl/dns/http/quic/sip logs; they enter tracecheck
at the flow table (DESIGN.md): ``interface`` says what a reader gives, ``zeek`` and ``eve``
read each format, ``aggregate`` sums the rows per destination (locally or on a Dask cluster)
for the geo -> policy -> report stages, which then run as for a capture."""
