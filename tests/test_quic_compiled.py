"""The compiled QUIC Initial handling (_quic.c) cuts, opens and walks exactly what quic.py's definitions do."""

from __future__ import annotations

import array
import shutil
import subprocess
import sysconfig
from pathlib import Path
from unittest import mock

import pytest
import quic_rfc_vectors as rfc
from dissect_helpers import build_client_hello, crypto_frame, protect_initial
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect import quic

compiled = pytest.mark.skipif(not quic.COMPILED, reason="tracecheck.dissect._quic was not built (no C compiler or libcrypto headers)")
VERSIONS = [quic.QUIC_V1, quic.QUIC_V2, quic.QUIC_DRAFT_29]
HELLO = build_client_hello("compiled.example", alpn=("h3",))


def _libcrypto_headers() -> bool:
    if shutil.which("pkg-config"):
        found = subprocess.run(["pkg-config", "--exists", "libcrypto"], check=False)
        if found.returncode == 0:
            return True
    return any(Path(d, "openssl", "evp.h").exists() for d in ("/usr/include", "/usr/local/include"))


def test_compiled_unprotection_is_built_where_a_compiler_and_libcrypto_are():
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not cc or shutil.which(cc[0]) is None or not _libcrypto_headers():
        pytest.skip("no C compiler or no libcrypto headers here: cryptography does the work")
    assert quic.COMPILED, "tracecheck.dissect._quic failed to build; reinstall with `pip install -e .` and read its log"


def both(packet: quic.LongHeaderPacket, key_dcid: bytes, server: bool = False, largest_pn: int = -1):
    """(compiled, Python) results of decrypting ``packet``."""
    in_c = quic.decrypt_initial(packet, key_dcid, server=server, largest_pn=largest_pn)
    with mock.patch.object(quic, "COMPILED", False):
        in_python = quic.decrypt_initial(packet, key_dcid, server=server, largest_pn=largest_pn)
    return in_c, in_python


def the_packet(datagram: bytes) -> quic.LongHeaderPacket:
    return next(quic.iter_long_header_packets(datagram))


@compiled
@pytest.mark.parametrize("protected, server, packet_number, payload", [
    (rfc.V1_CLIENT_PROTECTED_PACKET, False, 2, rfc.CLIENT_CRYPTO_FRAME + bytes(1162 - len(rfc.CLIENT_CRYPTO_FRAME))),
    (rfc.V2_CLIENT_PROTECTED_PACKET, False, 2, rfc.CLIENT_CRYPTO_FRAME + bytes(1162 - len(rfc.CLIENT_CRYPTO_FRAME))),
    (rfc.V1_SERVER_PROTECTED_PACKET, True, 1, rfc.V1_SERVER_PAYLOAD),
    (rfc.V2_SERVER_PROTECTED_PACKET, True, 1, rfc.V1_SERVER_PAYLOAD),
], ids=["v1 client", "v2 client", "v1 server", "v2 server"])
def test_rfc_initials_open_in_c(protected, server, packet_number, payload):
    in_c, in_python = both(the_packet(protected), rfc.DCID, server=server)
    assert in_c is not None and in_c == in_python
    assert (in_c.packet_number, in_c.payload) == (packet_number, payload)  # RFC 9001 A.2-A.3, RFC 9369 A.2-A.3


@compiled
@pytest.mark.parametrize("version", VERSIONS)
def test_server_side_keys_and_wrong_keys(version):
    dcid = bytes(range(8))
    frames = crypto_frame(0, HELLO)
    server_packet = the_packet(protect_initial(frames, dcid, version=version, server=True, pad_to=1200))
    in_c, in_python = both(server_packet, dcid, server=True)
    assert in_c is not None and in_c == in_python and in_c.payload.startswith(frames)
    # The client's keys, another DCID: neither opens it.
    assert both(server_packet, dcid, server=False) == (None, None)
    assert both(server_packet, dcid[::-1], server=True) == (None, None)


@compiled
@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from(VERSIONS),
    dcid=st.binary(min_size=0, max_size=20),
    key_dcid=st.one_of(st.none(), st.binary(min_size=0, max_size=20)),
    pn_len=st.integers(1, 4),
    packet_number=st.integers(0, (1 << 40) - 1),
    behind=st.integers(1, 100),
    server=st.booleans(),
    pad_to=st.sampled_from([0, 40, 1200]),
)
def test_built_initials_open_alike(version, dcid, key_dcid, pn_len, packet_number, behind, server, pad_to):
    frames = crypto_frame(0, HELLO[: 1 + packet_number % len(HELLO)])
    packet = the_packet(protect_initial(frames, dcid, version=version, pn_len=pn_len, packet_number=packet_number,
                                        key_dcid=key_dcid, pad_to=pad_to, server=server))
    key = key_dcid if key_dcid is not None else dcid
    # The largest packet number seen a little before this one: the full number comes back.
    in_c, in_python = both(packet, key, server=server, largest_pn=max(packet_number - behind, -1))
    assert in_c == in_python
    assert in_c is not None and in_c.payload.startswith(frames) and in_c.packet_number == packet_number


@compiled
@settings(max_examples=200, deadline=None)
@given(pn_len=st.integers(1, 4), packet_number=st.integers(0, (1 << 40) - 1),
       largest_pn=st.one_of(st.just(-1), st.integers(0, (1 << 62) - 1)))
def test_packet_numbers_far_from_the_largest_decode_alike(pn_len, packet_number, largest_pn):
    packet = the_packet(protect_initial(crypto_frame(0, HELLO), b"dcid", pn_len=pn_len, packet_number=packet_number))
    in_c, in_python = both(packet, b"dcid", largest_pn=largest_pn)
    assert in_c == in_python  # mostly None: the nonce of the number decoded is not the sender's


@compiled
@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_initials_open_alike(data):
    version = data.draw(st.sampled_from(VERSIONS))
    dcid = data.draw(st.binary(min_size=1, max_size=20))
    wire = bytearray(protect_initial(crypto_frame(0, HELLO), dcid, version=version, pad_to=1200))
    for _ in range(data.draw(st.integers(0, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] ^= data.draw(st.integers(1, 255))
    packets = list(quic.iter_long_header_packets(bytes(wire)))
    for packet in packets:
        if packet.kind == "initial":
            in_c, in_python = both(packet, dcid)
            assert in_c == in_python


@compiled
@pytest.mark.parametrize("bad", [
    {"data": b"\xc0" * 10, "pn_offset": 5},  # shorter than the sample
    {"pn_offset": 0},
    {"largest_pn": 1 << 62},
    {"dcid": bytes(256)},
])
def test_the_compiled_part_checks_its_arguments(bad):
    packet = the_packet(protect_initial(crypto_frame(0, HELLO), b"abcd", pad_to=1200))
    rules = quic.VERSIONS[quic.QUIC_V1]
    args = {"data": packet.data, "pn_offset": packet.pn_offset, "dcid": b"abcd", "salt": rules.salt,
            "prefix": rules.label_prefix, "server": False, "largest_pn": -1} | bad
    with pytest.raises(ValueError):
        quic._unprotect(*args.values())


# --------------------------------------------------------------------------- long headers and frames

# What a buffer may come in.  An array made from a list holds exactly its length (a bytes object
# has a zero byte past its end), so a read past the end shows under AddressSanitizer with
# PYTHONMALLOC=malloc.
HOLDERS = [bytes, bytearray, lambda data: array.array("B", list(data))]
# A first byte and a version to open random bytes with, so that they reach past the version.
HEADS = st.one_of(st.just(b""), st.builds(
    lambda first, version: bytes([first]) + version.to_bytes(4, "big"),
    st.integers(0, 255), st.sampled_from([*sorted(quic.VERSIONS), 0, 0x1A2A3A4A])))


def outcome(function, *args):
    """What ``function(*args)`` gives, with the type of every part spelled out (a NamedTuple
    equals a plain tuple, bytes equal a bytearray: the compiled records must be the very same),
    or the type of the exception it raised."""
    try:
        return shape(function(*args))
    except Exception as error:  # noqa: BLE001 - the Python definition may raise (IndexError)
        return type(error)


def shape(value):
    if isinstance(value, (tuple, list)):
        return type(value), [shape(v) for v in value]
    return type(value), value


def both_ways(function, *args):
    """(compiled, Python) outcomes of ``function(*args)``, the way ``both`` does for decryption."""
    in_c = outcome(function, *args)
    with mock.patch.object(quic, "COMPILED", False):
        in_python = outcome(function, *args)
    return in_c, in_python


def all_packets(datagram: bytes) -> list[quic.LongHeaderPacket]:
    return list(quic.iter_long_header_packets(datagram))


def assert_cut_alike(datagram: bytes, start: int = 0) -> None:
    """The packet at ``start``, the datagram's packets and its first Initial: the same in C."""
    for holder in HOLDERS:
        in_c, in_python = both_ways(quic._parse_long_header, holder(datagram), start)
        assert in_c == in_python, (holder, start, datagram[:60])
    for function in (all_packets, quic.first_initial):
        in_c, in_python = both_ways(function, datagram)
        assert in_c == in_python, (function, datagram[:60])


def varint(value: int, size: int = 0) -> bytes:
    """RFC 9000 16, in ``size`` bytes (1, 2, 4 or 8) as senders may pad them, or in the fewest
    when 0 or too few."""
    size = next(n for n in (size or 1, 1, 2, 4, 8) if n >= size and value < 1 << (8 * n - 2))
    return ((size.bit_length() - 1) << (8 * size - 2) | value).to_bytes(size, "big")


VARINT_SIZES = st.sampled_from([0, 0, 0, 1, 2, 4, 8])


@st.composite
def varints(draw, max_value: int = (1 << 62) - 1) -> bytes:
    return varint(draw(st.one_of(st.integers(0, 80), st.integers(0, max_value))), draw(VARINT_SIZES))


def long_header(type_bits: int, version: int, dcid: bytes, scid: bytes, rest: bytes) -> bytes:
    return bytes([0xC0 | type_bits << 4]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid \
        + bytes([len(scid)]) + scid + rest


@st.composite
def long_header_packets(draw) -> tuple[str | None, bytes]:
    """One long-header packet of any kind: a protected Initial, a 0-RTT or Handshake packet,
    a Retry, a version negotiation or a version we do not know; and the kind it is parsed as
    (None: a CID too long for a version we know)."""
    version = draw(st.sampled_from(sorted(quic.VERSIONS)))
    cid = st.one_of(st.sampled_from([0, 8, 20, 21]), st.integers(0, 24)).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    dcid, scid = draw(cid), draw(cid)
    kind = draw(st.sampled_from(["initial", "initial", "0rtt", "handshake", "retry", "vn", "unknown"]))
    if kind == "vn":
        listed = b"".join(v.to_bytes(4, "big") for v in draw(st.lists(st.integers(0, 2**32 - 1), max_size=4)))
        return "version_negotiation", long_header(draw(st.integers(0, 3)), 0, dcid, scid, listed)
    if kind == "unknown":
        version = draw(st.integers(1, 2**32 - 1).filter(lambda v: v not in quic.VERSIONS))
        return "unknown", long_header(draw(st.integers(0, 3)), version, dcid, scid, draw(st.binary(max_size=60)))
    expected = kind if len(dcid) <= quic.MAX_CID_LEN and len(scid) <= quic.MAX_CID_LEN else None
    if kind == "initial":
        frames = crypto_frame(draw(st.integers(0, 1000)), HELLO[: draw(st.integers(0, 200))])
        return expected, protect_initial(frames, dcid, version=version, scid=scid, pn_len=draw(st.integers(1, 4)),
                                     token=draw(st.binary(max_size=40)), pad_to=draw(st.sampled_from([0, 300])))
    type_bits = quic.VERSIONS[version].packet_types.index(kind)
    if kind == "retry":
        token_and_tag = draw(st.binary(max_size=40)) + draw(st.binary(min_size=16, max_size=16))
        return expected, long_header(type_bits, version, dcid, scid, token_and_tag)
    body = bytes(draw(st.one_of(st.sampled_from([quic.TAG_LEN, 1 + quic.TAG_LEN]), st.integers(0, 80))))
    if len(body) < 1 + quic.TAG_LEN:  # no room for a packet number and a tag: not a packet
        expected = None
    return expected, long_header(type_bits, version, dcid, scid, varint(len(body), draw(st.sampled_from([0, 2, 4, 8]))) + body)


@compiled
def test_the_bounds_copied_into_c_are_quic_pys():
    from tracecheck.dissect import _quic

    for name in ("MAX_CID_LEN", "MAX_FRAMES_PER_PACKET", "TAG_LEN", "SAMPLE_LEN"):
        assert getattr(_quic, name) == getattr(quic, name), name


@compiled
@settings(max_examples=500, deadline=None)
@given(head=HEADS, rest=st.binary(max_size=120), start=st.one_of(st.just(0), st.integers(0, 140)))
def test_random_bytes_cut_alike(head, rest, start):
    assert_cut_alike(head + rest, start)


@compiled
@settings(max_examples=400, deadline=None)
@given(built=long_header_packets())
def test_built_packets_cut_alike(built):
    kind, wire = built
    assert_cut_alike(wire)
    cut = quic._parse_long_header(wire, 0)
    assert (cut.kind if cut else None) == kind
    assert cut is None or cut.data == wire


@compiled
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_and_coalesced_packets_cut_alike(data):
    packets = [wire for _, wire in data.draw(st.lists(long_header_packets(), min_size=1, max_size=4))]
    starts = [sum(map(len, packets[:i])) for i in range(len(packets))]
    wire = bytearray(b"".join(packets) + data.draw(st.sampled_from([b"", bytes(30), b"\x40junk"])))
    if data.draw(st.booleans()):  # a first byte rewritten: form, fixed bit, type, packet number length
        wire[data.draw(st.sampled_from(starts))] = data.draw(st.integers(0, 255))
    for _ in range(data.draw(st.integers(0, 4))):  # bits flipped, mostly in a header
        near = data.draw(st.sampled_from(starts)) + data.draw(st.integers(0, 60))
        wire[min(data.draw(st.one_of(st.just(near), st.integers(0, len(wire) - 1))), len(wire) - 1)] ^= \
            1 << data.draw(st.integers(0, 7))
    wire = bytes(wire[: data.draw(st.integers(0, len(wire)))])
    for start in [*starts, data.draw(st.integers(0, max(0, len(wire) - 1)))]:  # each packet's, and anywhere
        assert_cut_alike(wire, start)


@compiled
def test_records_are_quic_pys_classes():
    datagram = protect_initial(crypto_frame(0, HELLO), b"abcd", pad_to=1200)
    packet = quic._parse_long_header(datagram, 0)
    assert type(packet) is quic.LongHeaderPacket and packet.data is datagram  # the whole datagram: no copy
    (frame,) = quic.crypto_frames(crypto_frame(7, b"hello") + bytes(20))
    assert type(frame) is quic.CryptoFrame and frame == (7, b"hello")


@st.composite
def frames(draw) -> bytes:
    """One frame of those an Initial may hold, or one that ends the walk, maybe lying about its lengths."""
    kind = draw(st.sampled_from(["padding", "ping", "ack", "crypto"] * 4 + ["other"]))
    lie = draw(st.integers(0, 9)) == 0  # about a length or a count, now and then
    if kind == "padding":
        return bytes(draw(st.integers(1, 40)))
    if kind == "ping":
        return b"\x01"
    if kind == "ack":
        ecn = draw(st.booleans())
        ranges = draw(st.lists(st.tuples(varints(), varints()), max_size=5))
        count = draw(st.integers(0, 70)) if lie else len(ranges)
        out = bytes([0x03 if ecn else 0x02]) + draw(varints()) + draw(varints()) + varint(count, draw(VARINT_SIZES)) \
            + draw(varints()) + b"".join(a + b for a, b in ranges)
        return out + (b"".join(draw(varints()) for _ in range(3)) if ecn else b"")
    if kind == "crypto":
        data = draw(st.binary(max_size=60))
        length = draw(st.one_of(st.integers(0, 100), st.integers(0, (1 << 62) - 1))) if lie else len(data)
        return b"\x06" + draw(varints()) + varint(length, draw(VARINT_SIZES)) + data
    return bytes([draw(st.integers(0x04, 0xFF).filter(lambda t: t != 0x06))]) + draw(st.binary(max_size=8))


def assert_walked_alike(payload: bytes) -> None:
    for holder in HOLDERS[:2]:  # the Python walk needs .endswith: no array
        in_c, in_python = both_ways(quic.crypto_frames, holder(payload))
        assert in_c == in_python, payload[:80]
    assert outcome(quic.crypto_frames, HOLDERS[2](payload)) == in_c  # for AddressSanitizer


@compiled
@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.lists(st.sampled_from([0, 0, 1, 2, 3, 6, 0x40, 0x80, 0xC0, 0xFF]), max_size=300).map(bytes)))
def test_random_bytes_walk_alike(payload):
    assert_walked_alike(payload)


@compiled
@settings(max_examples=300, deadline=None)
@given(sequence=st.lists(frames(), max_size=40), padded=st.sampled_from([0, 1, 7, 8, 900]), cut=st.integers(0, 2000))
def test_frame_sequences_walk_alike(sequence, padded, cut):
    payload = b"".join(sequence) + bytes(padded)
    assert_walked_alike(payload)
    assert_walked_alike(payload[:cut])


@compiled
@pytest.mark.parametrize("payload, found", [
    (b"\x01" * 255 + crypto_frame(9, b"x"), [quic.CryptoFrame(9, b"x")]),
    (b"\x01" * 256 + crypto_frame(9, b"x"), []),  # the 257th frame is not read
    (b"\x00\x01" * 128 + crypto_frame(9, b"x"), []),  # a PADDING run counts as one frame
    (b"".join(crypto_frame(n, b"y") for n in range(300)), [quic.CryptoFrame(n, b"y") for n in range(256)]),
    (b"".join(crypto_frame(n, b"") + bytes(3) for n in range(300)), [quic.CryptoFrame(n, b"") for n in range(128)]),
])
def test_more_than_256_frames_walk_alike(payload, found):
    assert shape(quic.crypto_frames(payload)) == shape(found)
    assert_walked_alike(payload)


@compiled
@pytest.mark.parametrize("call, error", [
    (lambda c: c.parse_long_header(b"\xc0" * 10, 0, quic._PACKET_TYPES, dict), TypeError),
    (lambda c: c.parse_long_header(b"\xc0" * 10, 0, [], quic.LongHeaderPacket), TypeError),
    (lambda c: c.parse_long_header(b"\xc0" * 5 + bytes(30), 0, {0xC0C0C0C0: ("initial",)}, quic.LongHeaderPacket),
     TypeError),  # the table's entries must be quic.VERSIONS' packet_types
    (lambda c: c.parse_long_header(b"\xc0" * 10, -1, quic._PACKET_TYPES, quic.LongHeaderPacket), IndexError),
    (lambda c: c.parse_long_header(b"\xc0" * 5, 0, quic._PACKET_TYPES, quic.LongHeaderPacket), IndexError),
    (lambda c: c.parse_long_header("text", 0, quic._PACKET_TYPES, quic.LongHeaderPacket), TypeError),
    (lambda c: c.crypto_frames(b"\x06\x00\x00", quic.CryptoFrame, 1), TypeError),
    (lambda c: c.crypto_frames(b"\x06\x00\x00", object), TypeError),
])
def test_the_compiled_walks_check_their_arguments(call, error):
    from tracecheck.dissect import _quic

    with pytest.raises(error):
        call(_quic)


@compiled
@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(-(2**63), 0), st.integers(2000, 2**63 - 1), st.integers(2**63 - 64, 2**63 - 1)))
def test_a_packet_number_offset_past_the_packet_is_refused_not_summed(pn_offset):  # the packet: 1200 bytes
    """pn_offset + 4 + the sample wraps for offsets near the largest size: refused all the same."""
    packet = the_packet(protect_initial(crypto_frame(0, HELLO), b"abcd", pad_to=1200))
    rules = quic.VERSIONS[quic.QUIC_V1]
    with pytest.raises(ValueError):
        quic._unprotect(packet.data, pn_offset, b"abcd", rules.salt, rules.label_prefix, False, -1)
