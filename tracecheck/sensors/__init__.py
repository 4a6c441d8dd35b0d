"""Flows and names from network sensors' logs (Zeek, Suricata eve.json) instead of a capture.

Sensors that already run at scale write conn/ssl/dns/http/quic/sip logs; they enter tracecheck
at the flow table (DESIGN.md): ``interface`` says what a reader gives, ``zeek`` and ``eve``
read each format (``flow_dataset`` reads tracecheck's own partitioned flow tables), ``aggregate``
sums the rows per destination (locally or on a Dask cluster) and ``judge_input`` turns the sums
into what the geo -> policy -> report stages take, which then run as for a capture."""
