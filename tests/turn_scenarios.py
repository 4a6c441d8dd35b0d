"""A WebRTC call whose media goes through a TURN relay (RFC 8656), built message by message.

The client binds, allocates (first refused for credentials, as real relays do), permits three
peers (one in the US, one in Germany, one on a private network), binds channel 0x4000 to the US
peer and sends it audio as ChannelData, tries to bind 0x4001 and is refused, and reaches the
German peer with Send indications (Data indications come back).  A fourth peer's permission and
channel binding are refused.  ``RelayedCall.expected`` keeps what was sent to and received from
each peer, as IP bytes, for the tests to compare with.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import defaultdict

from call_scenarios import TURN_EU, TestCall, _sdp, _sip
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw

from capture_builders import ip_total_length

COOKIE = (0x2112A442).to_bytes(4, "big")
XOR_PEER, XOR_RELAYED, XOR_MAPPED, CHANNEL_NUMBER, DATA, LIFETIME, ERROR_CODE, REALM, NONCE, USERNAME = (
    0x0012, 0x0016, 0x0020, 0x000C, 0x0013, 0x000D, 0x0009, 0x0014, 0x0015, 0x0006)
BINDING, ALLOCATE, CREATE_PERMISSION, CHANNEL_BIND, SEND, DATA_INDICATION = 0x001, 0x003, 0x008, 0x009, 0x006, 0x007
REQUEST, INDICATION, SUCCESS, ERROR = 0x000, 0x010, 0x100, 0x110

PEER_US = ("34.203.250.20", 40000)       # us-east-1 (AWS ranges in call_scenarios; GeoIP default: US)
PEER_DE = ("3.120.181.41", 41000)        # eu-central-1
PEER_LAN = ("192.168.7.20", 42000)       # the relay's other side is a private network
PEER_REFUSED = ("34.203.250.99", 43000)  # its permission and ChannelBind are refused: not a peer, no bytes
RELAYED_PORT = 60000                     # the relay's allocation for the client (XOR-RELAYED-ADDRESS)


def attribute(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + bytes(-len(value) % 4)


def xor_address(attr_type: int, ip: str, port: int, txid: bytes) -> bytes:
    raw = ipaddress.ip_address(ip).packed
    pad = (COOKIE + txid)[: len(raw)]
    family = 1 if len(raw) == 4 else 2
    return attribute(attr_type, struct.pack("!BBH", 0, family, port ^ 0x2112)
                     + bytes(a ^ b for a, b in zip(raw, pad)))


def stun_message(method: int, message_class: int, txid: bytes, attributes: list[bytes]) -> bytes:
    """A STUN message: ``method`` and ``message_class`` are combined as RFC 8489 section 5 says."""
    message_type = (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | message_class
    body = b"".join(attributes)
    return struct.pack("!HH", message_type, len(body)) + COOKIE + txid + body


def channel_data(channel: int, data: bytes, pad: bool = False) -> bytes:
    message = struct.pack("!HH", channel, len(data)) + data
    return message + bytes(-len(message) % 4) if pad else message


def rtp(sequence: int, ssrc: int, size: int = 160) -> bytes:
    return bytes([0x80, 0x00]) + sequence.to_bytes(2, "big") + (160 * sequence).to_bytes(4, "big") + \
        ssrc.to_bytes(4, "big") + bytes(size)


class RelayedCall:
    """Builds the relayed call into a ``TestCall``'s packets and keeps the truth."""

    def __init__(self, call: TestCall, relay: tuple[str, int] = TURN_EU, client_port: int = 55000,
                 tcp: bool = False) -> None:
        self.call, self.relay, self.client_port, self.tcp = call, relay, client_port, tcp
        self.expected: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        """Peer -> [packets sent to it, IP bytes sent, packets received from it, IP bytes received]."""
        self._txid = 0
        self._seq = [1000, 50000]

    def _packet(self, payload: bytes, outbound: bool, after_ms: float = 1.0) -> int:
        client, relay = (self.call.agent, self.client_port), self.relay
        (src, sport), (dst, dport) = (client, relay) if outbound else (relay, client)
        if self.tcp:
            side = 0 if outbound else 1
            packet = self.call._ip(src, dst) / TCP(sport=sport, dport=dport, flags="PA", seq=self._seq[side],
                                               ack=self._seq[1 - side]) / Raw(payload)
            self._seq[side] += len(payload)
        else:
            packet = self.call._ip(src, dst) / UDP(sport=sport, dport=dport) / Raw(payload)
        self.call._at(packet, after_ms)
        return ip_total_length(bytes(packet))

    def _next_txid(self) -> bytes:
        self._txid += 1
        return self._txid.to_bytes(12, "big")

    def _exchange(self, method: int, request: list, response: list | None = None, refused: bool = False) -> bytes:
        txid = self._next_txid()
        self._packet(stun_message(method, REQUEST, txid, [a(txid) if callable(a) else a for a in request]), True)
        answer = [attribute(ERROR_CODE, b"\x00\x00\x04\x00Bad Request")] if refused else \
            [a(txid) if callable(a) else a for a in (response or [])]
        self._packet(stun_message(method, ERROR if refused else SUCCESS, txid, answer), False, 20)
        return txid

    def sip_invite(self, sbc: tuple[str, str], call_id: str = "relayed-1@agent.example") -> RelayedCall:
        """A SIP call set up first: the agent's offer announces its relayed address (the relay's
        allocation, ``RELAYED_PORT``), the answer the US peer."""
        host, sbc_ip = sbc
        agent = self.call.agent
        offer = _sip(f"INVITE sip:+35312345678@{host} SIP/2.0", call_id, "INVITE", agent, _sdp(self.relay[0], RELAYED_PORT))
        answer = _sip("SIP/2.0 200 OK", call_id, "INVITE", agent, _sdp(*PEER_US))
        self.call._at(IP(src=agent, dst=sbc_ip) / UDP(sport=5060, dport=5060) / Raw(offer))
        self.call._at(IP(src=sbc_ip, dst=agent) / UDP(sport=5060, dport=5060) / Raw(answer), 20)
        return self

    def build(self, channel_packets: int = 40, send_packets: int = 25) -> RelayedCall:
        if not self.tcp:
            self._exchange(BINDING, [], [lambda t: xor_address(XOR_MAPPED, "198.51.100.7", 61000, t)])
        self._exchange(ALLOCATE, [attribute(0x0019, b"\x11\x00\x00\x00")], refused=True)
        self._exchange(ALLOCATE, [attribute(0x0019, b"\x11\x00\x00\x00"), attribute(USERNAME, b"agent-7:secret"),
                                  attribute(REALM, b"relay.example"), attribute(NONCE, b"abcdef")],
                       [lambda t: xor_address(XOR_RELAYED, self.relay[0], RELAYED_PORT, t),
                        lambda t: xor_address(XOR_MAPPED, "198.51.100.7", 61000, t),
                        attribute(LIFETIME, struct.pack("!I", 600))])
        self._exchange(CREATE_PERMISSION, [lambda t, p=p: xor_address(XOR_PEER, *p, t) for p in (PEER_US, PEER_DE, PEER_LAN)])
        self._exchange(CREATE_PERMISSION, [lambda t: xor_address(XOR_PEER, *PEER_REFUSED, t)], refused=True)
        self._exchange(CHANNEL_BIND, [attribute(CHANNEL_NUMBER, b"\x40\x00\x00\x00"),
                                      lambda t: xor_address(XOR_PEER, *PEER_US, t)])
        self._exchange(CHANNEL_BIND, [attribute(CHANNEL_NUMBER, b"\x40\x01\x00\x00"),
                                      lambda t: xor_address(XOR_PEER, *PEER_REFUSED, t)], refused=True)
        for n in range(channel_packets):
            sent = self._packet(channel_data(0x4000, rtp(n, 0x1111), pad=self.tcp), True, 10)
            self.expected[PEER_US][0] += 1
            self.expected[PEER_US][1] += sent
            received = self._packet(channel_data(0x4000, rtp(n, 0x2222), pad=self.tcp), False, 10)
            self.expected[PEER_US][2] += 1
            self.expected[PEER_US][3] += received
            self._packet(channel_data(0x4001, rtp(n, 0x3333), pad=self.tcp), True, 1)  # a refused channel
        for n in range(send_packets):
            txid = self._next_txid()
            sent = self._packet(stun_message(SEND, INDICATION, txid, [xor_address(XOR_PEER, *PEER_DE, txid),
                                                                      attribute(DATA, rtp(n, 0x4444))]), True, 10)
            self.expected[PEER_DE][0] += 1
            self.expected[PEER_DE][1] += sent
            txid = self._next_txid()
            received = self._packet(stun_message(DATA_INDICATION, INDICATION, txid, [
                xor_address(XOR_PEER, *PEER_DE, txid), attribute(DATA, rtp(n, 0x5555))]), False, 10)
            self.expected[PEER_DE][2] += 1
            self.expected[PEER_DE][3] += received
        return self
