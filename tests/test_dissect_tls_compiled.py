"""The compiled ClientHello naming (_tls.c) says exactly what tls.py says, on any bytes."""

from __future__ import annotations

import shutil
import sysconfig
from unittest import mock

import numpy as np
import pytest
from dissect_helpers import build_client_hello, extension, read_transport, shared_data, tls_records
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect import tls
from tracecheck.dissect.tls import NEED_MORE, ClientHello

compiled = pytest.mark.skipif(not tls.COMPILED, reason="tracecheck.dissect._tls was not built (no C compiler)")


def test_compiled_naming_is_built_where_a_compiler_is():
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not cc or shutil.which(cc[0]) is None:
        pytest.skip("no C compiler on this machine: the Python parse is the expected one")
    assert tls.COMPILED, "tracecheck.dissect._tls failed to build; reinstall with `pip install -e .` and read its log"


def both(data: bytes, records: bool):
    """(compiled, Python) results of the naming parse of ``data``."""
    parse = tls.parse_client_hello if records else tls.parse_client_hello_message
    in_c = parse(data, details=False)
    with mock.patch.object(tls, "COMPILED", False):
        in_python = parse(data, details=False)
    return in_c, in_python


def assert_same(data: bytes) -> None:
    for records in (True, False):
        in_c, in_python = both(data, records)
        assert in_c == in_python, (records, data[:80])
        assert in_c is None or in_c is NEED_MORE or isinstance(in_c, ClientHello)


def server_name_extension(*entries: tuple[int, bytes]) -> bytes:
    listed = b"".join(bytes([kind]) + len(name).to_bytes(2, "big") + name for kind, name in entries)
    return extension(0x0000, len(listed).to_bytes(2, "big") + listed)


def hello_with(extensions: tuple[bytes, ...]) -> bytes:
    return build_client_hello(None, versions=(), extra_extensions=extensions)


# --------------------------------------------------------------------------- values


@compiled
def test_names_are_read_as_tls_py_writes_them():
    cases = {
        b"API.MyPureCloud.IE.": "api.mypurecloud.ie",
        b"caf\xc3\xa9.example": "caf\\xc3\\xa9.example",  # UTF-8 bytes stay visible, escaped
        b"tab\tin.name": "tab\tin.name",
        b"...": "",  # only dots: no name
    }
    for raw, expected in cases.items():
        message = hello_with((server_name_extension((0, raw)),))
        hello = tls.parse_client_hello(tls_records(message), details=False)
        assert hello.sni == expected
        assert_same(tls_records(message))


@compiled
def test_the_first_usable_server_name_wins():
    # A non-host_name entry is skipped; an all-dots name leaves room for a later extension.
    message = hello_with((server_name_extension((1, b"other"), (0, b"first.example"), (0, b"second.example")),
                          server_name_extension((0, b"third.example"))))
    assert tls.parse_client_hello(tls_records(message), details=False).sni == "first.example"
    message = hello_with((server_name_extension((0, b"..")), server_name_extension((0, b"later.example"))))
    assert tls.parse_client_hello(tls_records(message), details=False).sni == "later.example"
    too_long = hello_with((server_name_extension((0, b"a" * 256), (0, b"short.example")),))
    assert tls.parse_client_hello(tls_records(too_long), details=False).sni == "short.example"


@compiled
def test_ech_and_esni_are_marked():
    for kind in (0xFE0D, 0xFFCE):
        message = hello_with((server_name_extension((0, b"public.example")), extension(kind, b"\x00" * 8)))
        hello = tls.parse_client_hello(tls_records(message), details=False)
        assert (hello.sni, hello.ech) == ("public.example", True)


@compiled
def test_a_hello_split_over_records_is_gathered():
    message = build_client_hello("gathered.example", key_share_size=1216)
    for sizes in ([1], [2, 1, 1], [3], [100, 0, 7], [len(message) - 1]):
        data = tls_records(message, sizes)
        assert tls.parse_client_hello(data, details=False).sni == "gathered.example"
        for end in range(0, len(data), 97):
            assert tls.parse_client_hello(data[:end], details=False) is NEED_MORE
        assert_same(data)


@compiled
def test_bare_messages_as_quic_carries_them():
    message = build_client_hello("quic.example", ech=True)
    hello = tls.parse_client_hello_message(message, details=False)
    assert (hello.sni, hello.ech, hello.legacy_version) == ("quic.example", True, 0x0303)
    assert tls.parse_client_hello_message(message[:-1], details=False) is NEED_MORE
    assert tls.parse_client_hello_message(b"\x02" + message[1:], details=False) is None
    assert tls.parse_client_hello_message(b"\x01\x01\x00\x01", details=False) is None  # over 64 KiB


# --------------------------------------------------------------------------- hostile bytes


@compiled
@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data):
    for candidate in (data, b"\x16\x03\x01" + data, b"\x16\x03\x01" + len(data).to_bytes(2, "big") + data,
                      b"\x01" + len(data).to_bytes(3, "big") + data):
        assert_same(candidate)


names = st.binary(min_size=0, max_size=300).filter(lambda b: b"\x00" not in b[:1])


@compiled
@settings(max_examples=500, deadline=None)
@given(st.data())
def test_mutated_hellos(data):
    entries = data.draw(st.lists(st.tuples(st.integers(0, 2), names), max_size=3))
    extensions = [server_name_extension(*entries)] if entries else []
    if data.draw(st.booleans()):
        extensions.append(extension(data.draw(st.sampled_from([0xFE0D, 0xFFCE, 0x0010, 0x7A7A])), b"\x00" * 4))
    if data.draw(st.booleans()):
        extensions.append(server_name_extension((0, data.draw(names))))
    message = bytearray(hello_with(tuple(extensions)))
    sizes = data.draw(st.lists(st.integers(0, 200), max_size=4))
    stream = bytearray(tls_records(bytes(message), sizes))
    for target in (message, stream):
        for _ in range(data.draw(st.integers(0, 6))):
            target[data.draw(st.integers(0, len(target) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(stream)))
    for candidate in (bytes(stream[:cut]), bytes(stream)):
        assert_same(candidate)
    assert_same(bytes(message[: data.draw(st.integers(0, len(message)))]))


# --------------------------------------------------------------------------- a batch at once


@compiled
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_batch_of_hellos_is_named_as_one_by_one(data):
    """name_client_hellos (one compiled call for a batch's slices) == parse_client_hello per
    slice in Python, on whole, cut, mutated and random payloads laid end to end."""
    pieces = []
    for _ in range(data.draw(st.integers(0, 6))):
        hello = bytearray(tls_records(hello_with((server_name_extension((0, data.draw(names))),)),
                                      data.draw(st.lists(st.integers(0, 200), max_size=2))))
        for _ in range(data.draw(st.integers(0, 2))):
            hello[data.draw(st.integers(0, len(hello) - 1))] = data.draw(st.integers(0, 255))
        pieces.append(data.draw(st.sampled_from([bytes(hello), bytes(hello[: len(hello) // 2]), b""]))
                      if data.draw(st.booleans()) else data.draw(st.binary(max_size=60)))
    blob = b"".join(pieces)
    ends = np.cumsum([len(p) for p in pieces], dtype=np.int64)
    starts = ends - np.array([len(p) for p in pieces], dtype=np.int64)
    batch = tls.name_client_hellos(blob, starts, ends)
    with mock.patch.object(tls, "COMPILED", False):
        assert batch == [tls.parse_client_hello(p, details=False) for p in pieces]
        assert tls.name_client_hellos(blob, starts, ends) == batch


@compiled
@pytest.mark.parametrize("start, end", [(-1, 2), (3, 2), (0, 11)])
def test_a_batch_slice_outside_the_data_is_refused_not_read(start, end):
    with pytest.raises(ValueError, match="outside"):
        tls.name_client_hellos(b"0123456789", np.array([start], dtype=np.int64), np.array([end], dtype=np.int64))


# --------------------------------------------------------------------------- real captures


@compiled
@pytest.mark.shared_data
@pytest.mark.skipif(shared_data() is None, reason="../shared/data is not here")
def test_every_tls_payload_of_the_shared_captures():
    root = shared_data() / "pcaps"
    checked = 0
    for path in sorted(root.rglob("*.pcap*")):
        if path.stat().st_size > 20 << 20:
            continue
        try:
            segments = read_transport(path)
        except Exception:  # a capture dpkt cannot read is the readers' business, not this test's
            continue
        for segment in segments:
            if segment.payload[:1] == b"\x16":
                assert_same(segment.payload)
                checked += 1
    assert checked > 100


def alpn_extension(*names: bytes, cut: int = 0) -> bytes:
    listed = b"".join(bytes([len(n)]) + n for n in names)
    body = len(listed).to_bytes(2, "big") + listed
    return extension(0x0010, body[:len(body) - cut] if cut else body)


@pytest.mark.parametrize("extensions, dot", [
    ((alpn_extension(b"h2", b"dot"),), True),
    ((alpn_extension(b"dot"),), True),
    ((alpn_extension(b"h2", b"http/1.1"),), False),
    ((alpn_extension(b"DOT", b"dott", b"do"),), False),
    ((alpn_extension(b"h2"), alpn_extension(b"dot")), True),    # a repeated extension (illegal) is read until one offers dot
    ((alpn_extension(b"dot"), alpn_extension(b"h2")), True),
    ((alpn_extension(*[b"x"] * 64, b"dot"),), False),           # at most 64 names are read
    ((alpn_extension(b"dot", b"h2", cut=1),), False),           # a name running past the list spoils the list
])
def test_naming_says_whether_alpn_offers_dns_over_tls(extensions, dot):
    data = tls_records(hello_with(extensions))
    hello = tls.parse_client_hello(data, details=False)
    assert hello.alpn == (("dot",) if dot else ())
    if tls.COMPILED:
        assert_same(data)
        assert tls.name_client_hellos(data, np.array([0]), np.array([len(data)]))[0] == hello
