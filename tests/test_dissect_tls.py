"""TLS ClientHello: fields, records and segments split anywhere, hostile bytes, real captures."""

from __future__ import annotations

import random
import struct
from collections import Counter

import pytest
from dissect_helpers import build_client_hello, extension, read_transport, shared_data, tls_records
from hypothesis import given, settings
from hypothesis import strategies as st

from tracecheck.dissect import tls
from tracecheck.dissect.tcp_stream import StreamReassembler
from tracecheck.dissect.tls import NEED_MORE, ClientHello, looks_like_tls, parse_client_hello

# --------------------------------------------------------------------------- fields


def test_fields_of_a_simple_hello():
    hello = parse_client_hello(
        tls_records(build_client_hello("API.MyPureCloud.IE.", alpn=("h2", "http/1.1")))
    )
    assert isinstance(hello, ClientHello)
    assert hello.sni == "api.mypurecloud.ie"
    assert hello.alpn == ("h2", "http/1.1")
    assert hello.versions == (0x0304, 0x0303)
    assert hello.legacy_version == 0x0303
    assert hello.ech is False
    assert hello.cipher_suites == (0x1301, 0x1302, 0x1303, 0xC02B)
    assert hello.extensions[0] == 0x0000


def test_ech_marks_the_sni_as_a_public_name():
    hello = parse_client_hello(tls_records(build_client_hello("cloudflare-ech.com", ech=True)))
    assert hello.ech and hello.sni == "cloudflare-ech.com"


def test_hello_without_sni_or_extensions():
    hello = parse_client_hello(tls_records(build_client_hello(None, versions=())))
    assert hello.sni == "" and hello.versions == ()
    bare = (
        b"\x03\x01" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
    )  # TLS 1.0, no extensions
    hello = tls.parse_client_hello_message(b"\x01" + len(bare).to_bytes(3, "big") + bare)
    assert hello == ClientHello(
        sni="", alpn=(), ech=False, versions=(), legacy_version=0x0301, cipher_suites=(0x2F,)
    )


def test_odd_bytes_in_a_name_stay_visible():
    hello = parse_client_hello(tls_records(build_client_hello("bad\u00ffname")))  # sent as UTF-8
    assert hello.sni == "bad\\xc3\\xbfname"


def test_a_broken_extension_keeps_what_came_before():
    ok = build_client_hello(
        "before.example", alpn=("h2",), extra_extensions=(extension(0x0010, b"\x00\x09\x05"),)
    )
    hello = tls.parse_client_hello_message(ok)
    assert hello.sni == "before.example" and hello.alpn == ("h2",)


def test_extensions_block_cut_short_keeps_the_hello():
    msg = bytearray(build_client_hello("cut.example", alpn=("h2",)))
    body_len = len(msg) - 4
    # Claim 40 more bytes of extensions than there are, and make the message length agree.
    ext_len_pos = 4 + 2 + 32 + 1 + 32 + 2 + 8 + 2
    declared = struct.unpack(">H", msg[ext_len_pos : ext_len_pos + 2])[0]
    msg[ext_len_pos : ext_len_pos + 2] = struct.pack(">H", declared + 40)
    msg[1:4] = body_len.to_bytes(3, "big")
    hello = tls.parse_client_hello_message(bytes(msg))
    assert hello.sni == "cut.example"


# --------------------------------------------------------------------------- records and segments


@pytest.mark.parametrize("record_version", [0x0300, 0x0301, 0x0303])
def test_hello_split_across_records(record_version):
    msg = build_client_hello("split.example", alpn=("h2",))
    data = tls_records(msg, [1, 3, 50, 7], version=record_version)
    assert data.count(b"\x16\x03") >= 5
    assert parse_client_hello(data).sni == "split.example"


def test_every_proper_prefix_needs_more():
    data = tls_records(build_client_hello("prefix.example"), [2, 100])
    for end in range(len(data)):
        assert parse_client_hello(data[:end]) is NEED_MORE, end
    assert parse_client_hello(data).sni == "prefix.example"
    assert parse_client_hello(data + b"\x17\x03\x03\x00\x05hello").sni == "prefix.example"


def test_need_more_is_falsy_and_unique():
    assert not NEED_MORE and repr(NEED_MORE) == "NEED_MORE"
    assert type(NEED_MORE)() is NEED_MORE


def test_hello_reassembled_from_reordered_retransmitted_segments():
    data = tls_records(build_client_hello("segments.example", key_share_size=1216), [600])
    pieces = [(1 + a, data[a : a + 300]) for a in range(0, len(data), 300)]
    pieces += [pieces[1], (1 + 150, data[150:900])]  # retransmissions, one overlapping two segments
    random.Random(7).shuffle(pieces)
    stream = StreamReassembler()
    stream.add(0, b"", syn=True)
    for seq, piece in pieces:
        stream.add(seq, piece)
    assert parse_client_hello(stream.contiguous()).sni == "segments.example"


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x17\x03\x03\x00\x10" + bytes(16),  # application data first
        b"\x16\x02\x00\x00\x05hello",  # not version 3.x
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a ServerHello, not a ClientHello
        b"\x16\x03\x01\x48\x01" + bytes(10),  # record longer than TLS allows
        b"\x16\x03\x01\x00\x04\x01\xff\xff\xff",  # 16 MiB hello: beyond the bound
        b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03",  # complete message, body too short
        b"\x16\x03\x01\x00\x02\x01\x00\x15\x03\x03\x00\x00",  # second record of another type
    ],
)
def test_not_a_client_hello(data):
    assert parse_client_hello(data) is None


def test_looks_like_tls():
    assert looks_like_tls(tls_records(build_client_hello()))
    assert looks_like_tls(b"\x17\x03\x03\x00\x20")
    assert not looks_like_tls(b"\x16\x03\x01\x00\x20\x63")  # handshake type 99
    assert not looks_like_tls(b"GET / HTTP/1.1\r\n")
    assert not looks_like_tls(b"\x16\x03\x01\x00\x00")  # empty record
    assert not looks_like_tls(b"\x16\x03")


def test_server_hello():
    exts = extension(0x002B, b"\x03\x04") + extension(0x0010, b"\x00\x03\x02h2")
    body = (
        b"\x03\x03"
        + bytes(32)
        + b"\x00"
        + b"\x13\x01"
        + b"\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    msg = b"\x02" + len(body).to_bytes(3, "big") + body
    hello = tls.parse_server_hello(tls_records(msg, [10]))
    assert hello == tls.ServerHello(0x0303, 0x1301, 0x0304, "h2", False)
    assert tls.parse_server_hello(tls_records(msg)[:20]) is NEED_MORE
    assert tls.parse_server_hello(tls_records(build_client_hello())) is None


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(
    sni=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}\.){1,4}[a-z]{2,6}", fullmatch=True),
    record_cuts=st.lists(st.integers(1, 400), max_size=6),
    segment_cuts=st.lists(st.integers(1, 3000), max_size=10),
    seed=st.integers(0, 2**32),
    big=st.booleans(),
)
def test_random_splits_and_orders_always_give_the_sni(sni, record_cuts, segment_cuts, seed, big):
    data = tls_records(
        build_client_hello(sni, alpn=("h2",), key_share_size=1216 if big else 32), record_cuts
    )
    edges = [0, *sorted({c for c in segment_cuts if c < len(data)}), len(data)]
    pieces = [(1000 + a, data[a:b]) for a, b in zip(edges, edges[1:])]
    random.Random(seed).shuffle(pieces)
    stream = StreamReassembler()
    stream.add(999, b"", syn=True)
    for seq, piece in pieces:
        stream.add(seq, piece)
    assert parse_client_hello(stream.contiguous()).sni == sni


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    for candidate in (
        data,
        b"\x16\x03\x01" + data,
        b"\x16\x03\x01" + len(data).to_bytes(2, "big") + data,
    ):
        assert parse_client_hello(candidate) in (None, NEED_MORE) or isinstance(
            parse_client_hello(candidate), ClientHello
        )
        tls.parse_client_hello_message(candidate)
        tls.parse_client_hello_message(b"\x01" + len(data).to_bytes(3, "big") + data)
        tls.parse_server_hello(candidate)
        looks_like_tls(candidate)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_hellos_never_raise(data):
    msg = bytearray(tls_records(build_client_hello("corrupt.example", alpn=("h2", "h3"), ech=True)))
    for _ in range(data.draw(st.integers(1, 8))):
        msg[data.draw(st.integers(0, len(msg) - 1))] = data.draw(st.integers(0, 255))
    result = parse_client_hello(bytes(msg[: data.draw(st.integers(0, len(msg)))]))
    assert result is None or result is NEED_MORE or isinstance(result, ClientHello)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_without_details_the_naming_fields_are_the_same(data):
    """details=False (what the session uses) must name exactly as the full parse does."""
    many = tuple(extension((0x7A7A + 0x1010 * i) % 0xFFFF, bytes(i % 7)) for i in range(data.draw(st.integers(0, 300))))
    msg = bytearray(tls_records(build_client_hello("same.example", alpn=("h2",), ech=data.draw(st.booleans()),
                                                   extra_extensions=many)))
    for _ in range(data.draw(st.integers(0, 8))):
        msg[data.draw(st.integers(0, len(msg) - 1))] = data.draw(st.integers(0, 255))
    cut = bytes(msg[: data.draw(st.integers(0, len(msg)))])
    full, light = parse_client_hello(cut), parse_client_hello(cut, details=False)
    if isinstance(full, ClientHello):
        assert isinstance(light, ClientHello)
        assert (light.sni, light.ech, light.legacy_version) == (full.sni, full.ech, full.legacy_version)
        assert (light.alpn, light.versions, light.cipher_suites, light.extensions) == ((), (), (), ())
    else:
        assert light is full


# --------------------------------------------------------------------------- real captures

# Expected first-ClientHello SNI per TCP connection, verified with tshark -r FILE
#   -Y tls.handshake.type==1 -T fields -e tcp.stream -e tls.handshake.extensions_server_name
# tshark lists every ClientHello; a connection with a second hello (after a HelloRetryRequest)
# is counted once here: reddit.pcap's tcp.stream 36 (cdn.syndication.twimg.com) has two.
REAL_TLS = {
    "pcaps/zeek/chrome-34-google.pcap": {"google.de": 1},
    "pcaps/pcapplusplus/tls.pcap": {"bawmashbij": 1, "ssl.gstatic.com": 1, "www.gstatic.com": 1},
    "pcaps/ndpi/reddit.pcap": {
        "8a755a3fef0b189d8ab5b0d10758f68a.safeframe.googlesyndication.com": 1,
        "aax-eu.amazon-adsystem.com": 1,
        "ad.doubleclick.net": 2,
        "adservice.google.com": 1,
        "adservice.google.fr": 1,
        "b.thumbs.redditmedia.com": 1,
        "c.aaxads.com": 1,
        "c.amazon-adsystem.com": 1,
        "cdn.ampproject.org": 5,
        "cdn.syndication.twimg.com": 1,
        "d9.flashtalking.com": 1,
        "emoji.redditmedia.com": 2,
        "fonts.googleapis.com": 1,
        "fonts.gstatic.com": 2,
        "gateway.reddit.com": 1,
        "i.ytimg.com": 1,
        "id.rlcdn.com": 1,
        "platform.twitter.com": 1,
        "preview.redd.it": 4,
        "rules.quantcount.com": 1,
        "safebrowsing.googleapis.com": 2,
        "sb.scorecardresearch.com": 1,
        "secure.quantserve.com": 1,
        "securepubads.g.doubleclick.net": 1,
        "static.doubleclick.net": 1,
        "styles.redditmedia.com": 4,
        "syndication.twitter.com": 1,
        "tpc.googlesyndication.com": 4,
        "www.aaxdetect.com": 1,
        "www.google.com": 1,
        "www.googletagmanager.com": 1,
        "www.googletagservices.com": 1,
        "www.reddit.com": 2,
        "www.redditstatic.com": 6,
        "www.youtube.com": 1,
        "yt3.ggpht.com": 1,
    },
    "pcaps/ndpi/alexa-app.pcapng": {
        "": 6,
        "android.clients.google.com": 1,
        "api.amazon.com": 1,
        "cognito-identity.us-east-1.amazonaws.com": 3,
        "dp-gw-na-js.amazon.com": 1,
        "firs-ta-g7g.amazon.com": 1,
        "fls-na.amazon.com": 7,
        "images-na.ssl-images-amazon.com": 3,
        "mads.amazon-adsystem.com": 1,
        "mobileanalytics.us-east-1.amazonaws.com": 9,
        "mtalk.google.com": 1,
        "pitangui.amazon.com": 40,
        "s3-external-2.amazonaws.com": 2,
        "skills-store.amazon.com": 6,
        "www.amazon.com": 6,
    },
    "pcaps/ndpi/webex.pcap": {
        "": 43,
        "api.crittercism.com": 1,
        "radcom.webex.com": 4,
        "ssl.google-analytics.com": 1,
    },
}


def client_hellos_in(path) -> list[ClientHello]:
    streams: dict[tuple, StreamReassembler] = {}
    for seg in read_transport(path):
        if seg.proto == "tcp":
            key = (seg.src, seg.sport, seg.dst, seg.dport)
            streams.setdefault(key, StreamReassembler()).add(seg.seq, seg.payload, seg.syn)
    hellos = []
    for stream in streams.values():
        data = stream.contiguous()
        if looks_like_tls(data):
            result = parse_client_hello(data)
            assert result is not NEED_MORE
            if result is not None:
                hellos.append(result)
    return hellos


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(REAL_TLS))
def test_real_captures_match_tshark(name):
    root = shared_data()
    if root is None or not (root / name).exists():
        pytest.skip("shared data not present")
    hellos = client_hellos_in(root / name)
    assert Counter(h.sni for h in hellos) == Counter(REAL_TLS[name])


@pytest.mark.shared_data
def test_real_capture_alpn_and_versions():
    root = shared_data()
    if root is None or not (root / "pcaps/pcapplusplus/tls.pcap").exists():
        pytest.skip("shared data not present")
    by_name = {h.sni: h for h in client_hellos_in(root / "pcaps/pcapplusplus/tls.pcap")}
    # tshark: tls.handshake.extensions_alpn_str and tls.handshake.extensions.supported_version
    assert by_name["ssl.gstatic.com"].alpn == ("spdy/3.1", "spdy/3", "http/1.1")
    assert by_name["www.gstatic.com"].alpn == ("h2", "http/1.1")
    assert by_name["www.gstatic.com"].versions == (0x0304, 0x0303)


@pytest.mark.shared_data
def test_real_server_hellos_match_tshark():
    """First ServerHello per connection of reddit.pcap.

    tshark (tls.handshake.type==2) lists 60 over 59 connections: 35 choose TLS 1.3 (one of them
    a HelloRetryRequest followed by the real ServerHello) and 25 TLS 1.2.
    """
    root = shared_data()
    if root is None or not (root / "pcaps/ndpi/reddit.pcap").exists():
        pytest.skip("shared data not present")
    streams: dict[tuple, StreamReassembler] = {}
    for seg in read_transport(root / "pcaps/ndpi/reddit.pcap"):
        if seg.proto == "tcp" and seg.sport == 443:
            key = (seg.src, seg.sport, seg.dst, seg.dport)
            streams.setdefault(key, StreamReassembler()).add(seg.seq, seg.payload, seg.syn)
    hellos = [tls.parse_server_hello(s.contiguous()) for s in streams.values()]
    kinds = Counter(
        (h.selected_version, h.hello_retry_request)
        for h in hellos
        if isinstance(h, tls.ServerHello)
    )
    assert kinds == {(0x0304, False): 33, (0x0304, True): 1, (None, False): 25}
