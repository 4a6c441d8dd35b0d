"""A minimal MaxMind DB (.mmdb) writer, so that tests build their own databases.

Implements just enough of the MaxMind DB format 2.0 spec (https://maxmind.github.io/MaxMind-DB/):
a binary search tree with 24-bit records, a data section of maps, strings, unsigned integers,
doubles and booleans, and the metadata map.  IPv4 networks in an IPv6 tree live under ::/96,
where readers look for them.  ``unreachable_nodes`` appends nodes no path reaches: the shape of
MaxMind's ``libmaxminddb-corrupt-search-tree.mmdb``.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


def _control(type_number: int, size: int) -> bytes:
    extended = type_number > 7
    first_type = 0 if extended else type_number
    if size < 29:
        head, tail = size, b""
    elif size < 29 + 256:
        head, tail = 29, bytes([size - 29])
    elif size < 285 + 65536:
        head, tail = 30, (size - 285).to_bytes(2, "big")
    else:
        head, tail = 31, (size - 65821).to_bytes(3, "big")
    out = bytes([(first_type << 5) | head])
    if extended:
        out += bytes([type_number - 7])
    return out + tail


class Typed:
    """An unsigned integer with its MaxMind type fixed (the metadata map needs exact types)."""

    def __init__(self, value: int, type_number: int):
        self.value, self.type_number = value, type_number


def encode(value: Any) -> bytes:
    if isinstance(value, Typed):
        raw = value.value.to_bytes((value.value.bit_length() + 7) // 8, "big") if value.value else b""
        return _control(value.type_number, len(raw)) + raw
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(2, len(raw)) + raw
    if isinstance(value, float):
        return _control(3, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
        if value < 1 << 16:
            return _control(5, len(raw)) + raw
        if value < 1 << 32:
            return _control(6, len(raw)) + raw
        return _control(9, len(raw)) + raw
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(encode(str(k)) + encode(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {value!r}")


def write_mmdb(path: Path, records: dict[str, dict], *, ip_version: int = 6, database_type: str = "Test-City",
               build_epoch: int = 1_770_000_000, unreachable_nodes: int = 0) -> Path:
    """Write ``{network: record}`` as a .mmdb at ``path``; less specific networks first is not required."""
    bits = 128 if ip_version == 6 else 32
    nodes: list[list[Any]] = [[None, None]]  # each record: None (empty), ("node", i) or ("data", key)
    data_keys: dict[int, int] = {}
    payloads: list[bytes] = []
    for network_text, record in sorted(records.items(), key=lambda item: ipaddress.ip_network(item[0]).prefixlen):
        network = ipaddress.ip_network(network_text)
        value = int(network.network_address)
        length = network.prefixlen
        if network.version == 4 and ip_version == 6:
            length += 96
        width = 32 if network.version == 4 and ip_version == 4 else bits
        path_bits = [(value >> (width - 1 - i)) & 1 for i in range(length)] if width == bits else []
        if network.version == 4 and ip_version == 6:
            path_bits = [0] * 96 + [(value >> (31 - i)) & 1 for i in range(length - 96)]
        payload = encode(record)
        key = data_keys.setdefault(id(record), len(payloads))
        if key == len(payloads):
            payloads.append(payload)
        node = 0
        for depth, bit in enumerate(path_bits):
            if depth == len(path_bits) - 1:
                nodes[node][bit] = ("data", key)
                break
            current = nodes[node][bit]
            if current is None or current[0] == "data":
                nodes.append([current, current])  # a more specific network splits an existing one
                nodes[node][bit] = ("node", len(nodes) - 1)
                current = nodes[node][bit]
            node = current[1]
    for _ in range(unreachable_nodes):
        nodes.append([("node", 0), ("node", 0)])
    offsets, data = [], b""
    for payload in payloads:
        offsets.append(len(data))
        data += payload
    node_count = len(nodes)

    def record_value(record: Any) -> int:
        if record is None:
            return node_count
        if record[0] == "node":
            return record[1]
        return node_count + 16 + offsets[record[1]]

    tree = b"".join(record_value(left).to_bytes(3, "big") + record_value(right).to_bytes(3, "big")
                    for left, right in nodes)
    metadata = {
        "node_count": Typed(node_count, 6), "record_size": Typed(24, 5), "ip_version": Typed(ip_version, 5),
        "database_type": database_type, "languages": ["en"], "binary_format_major_version": Typed(2, 5),
        "binary_format_minor_version": Typed(0, 5), "build_epoch": Typed(build_epoch, 9),
        "description": {"en": "tracecheck test database"},
    }
    Path(path).write_bytes(tree + bytes(16) + data + METADATA_MARKER + encode(metadata))
    return Path(path)
