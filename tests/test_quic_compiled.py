"""The compiled Initial unprotection (_quic.c) opens exactly what quic.py's definition opens."""

from __future__ import annotations

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
