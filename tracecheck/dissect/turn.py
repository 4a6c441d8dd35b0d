"""TURN relays (RFC 8656): the peers a client's media reached through a relay, and the bytes.

A relay is only the first hop.  Where the media went next is in the TURN messages on the
client's flow to the relay: the XOR-PEER-ADDRESS of CreatePermission and ChannelBind requests
and of Send and Data indications.  Bytes are counted per peer: Send indications (client to
peer) and Data indications (peer to client) as the dissectors meet them -- they carry the STUN
cookie, so every one is looked at -- and ChannelData, which carries no cookie and is most of a
relayed call, in bulk over every packet of a batch (``TurnLog.count_channel_data``), by
channel, matched to the flow's channel bindings at the end.

Over TCP a ChannelData message is counted only when a segment holds exactly one (the usual
case for audio); messages split across segments or sharing one are not.  TURN over TLS or
DTLS is opaque: its relay is seen, its peers are not.

Everything kept is plain data (tuples, dicts, numbers), so a worker process can send it back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tracecheck.vocabulary import RelayedPeer

TURN_METHODS = frozenset({"allocate", "refresh", "send", "data", "create_permission", "channel_bind"})
"""Methods only a TURN client and server exchange (a Binding is also ICE's peer-to-peer check)."""
CHANNELS = (0x4000, 0x7FFF)
"""Channel numbers RFC 5766 allowed (RFC 8656 narrows them to 0x4000-0x4FFF)."""
MAX_PEERS_PER_FLOW = 256
"""Peers kept per relay flow: a client has a few; a crafted capture could name thousands."""
MAX_REQUESTS = 1 << 16
"""Permission, binding and refused requests kept in all (a relay flow refreshes each every few
minutes; a crafted capture could send millions)."""
_TCP, _UDP = 6, 17
_FIRST, _LAST = 2, 3  # where the first and last timestamps sit in a counter


class TurnLog:
    """What the TURN messages of every flow said, gathered while the flows are built."""

    def __init__(self) -> None:
        self.ends: dict[int, tuple] = {}
        """Flow index -> (client hi, lo, port, relay hi, lo, port), from its first TURN message."""
        self.permissions: dict[tuple, tuple] = {}
        """(flow, transaction id) -> (ts, ((peer ip, peer port), ...)) of a CreatePermission request."""
        self.bindings: dict[tuple, tuple] = {}
        """(flow, transaction id) -> (channel, peer ip, peer port, ts) of a ChannelBind request."""
        self.refused: set[tuple] = set()
        """(flow, transaction id) of requests the relay answered with an error."""
        self.indications: dict[tuple, list] = {}
        """(flow, ``send`` or ``data``, peer ip, peer port) -> [packets, IP bytes, first ts, last ts]."""
        self.channel_data: dict[tuple, list] = {}
        """(flow, channel, sender hi, lo, port) -> [packets, IP bytes, first ts ns, last ts ns]."""
        self.allocations: dict[int, tuple[str, int]] = {}
        """Flow index -> the relayed transport address the relay allocated (XOR-RELAYED-ADDRESS):
        what the client's SDP announces, so a call's media is found on the flow to the relay."""
        self._named: dict[int, set] = {}  # flow -> peers named so far (bounds what is kept)

    # ------------------------------------------------------------------ gathering

    def on_message(self, flow: int, ts: float, src: tuple, sport: int, dst: tuple, dport: int,
                   message, ip_len: int) -> None:
        """A STUN message (``stun.StunMessage``) seen on ``flow``, sent from ``src``:``sport``."""
        if message.method not in TURN_METHODS or message.classic:
            return
        from_client = message.message_class == "request" or message.method == "send"
        client, relay = ((*src, sport), (*dst, dport)) if from_client else ((*dst, dport), (*src, sport))
        self.ends.setdefault(flow, (*client, *relay))
        if message.message_class == "error":
            if len(self.refused) < MAX_REQUESTS:
                self.refused.add((flow, message.transaction_id))
            return
        if message.method == "allocate" and message.message_class == "success" and message.relayed:
            self.allocations.setdefault(flow, (message.relayed[0].ip, message.relayed[0].port))
        peers = [peer for peer in message.peers if self._keep(flow, peer.ip, peer.port)]
        if not peers or (message.message_class == "request" and len(self.permissions) + len(self.bindings) >= MAX_REQUESTS):
            return
        if message.message_class == "request" and message.method == "create_permission":
            self.permissions.setdefault((flow, message.transaction_id), (ts, tuple((p.ip, p.port) for p in peers)))
        elif message.message_class == "request" and message.method == "channel_bind":
            if message.channel_number is not None and CHANNELS[0] <= message.channel_number <= CHANNELS[1]:
                self.bindings.setdefault((flow, message.transaction_id),
                                         (message.channel_number, peers[0].ip, peers[0].port, ts))
        elif message.message_class == "indication" and message.method in ("send", "data"):
            _add(self.indications, (flow, message.method, peers[0].ip, peers[0].port), 1, ip_len, ts, ts)

    def _keep(self, flow: int, ip: str, port: int) -> bool:
        """A peer already named on this flow, or room for one more (crafted captures name thousands)."""
        named = self._named.setdefault(flow, set())
        if (ip, port) in named:
            return True
        if len(named) >= MAX_PEERS_PER_FLOW:
            return False
        named.add((ip, port))
        return True

    def count_channel_data(self, p, flow_of: np.ndarray) -> None:
        """Count, in bulk, every packet of a batch that is one ChannelData message: a channel
        number and a length that fills the payload (UDP may pad by up to 3 bytes, TCP must)."""
        # A channel number first (one unsigned compare over the batch), the rest on those rows only.
        head = p.payload_head
        rows = np.flatnonzero((head >> np.uint64(48)) - np.uint64(CHANNELS[0]) <= np.uint64(CHANNELS[1] - CHANNELS[0]))
        head = head[rows]
        spare = p.payload_len[rows].astype(np.int64) - 4 - ((head >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)
        proto = p.proto[rows]
        keep = (spare >= 0) & (spare <= 3) & ((proto == _UDP) | (proto == _TCP)) & (flow_of[rows] >= 0)
        rows, channel = rows[keep], (head[keep] >> np.uint64(48)).astype(np.int64)
        if not len(rows):
            return
        keys = np.stack([flow_of[rows].astype(np.uint64), channel.astype(np.uint64), p.src_hi[rows].astype(np.uint64),
                         p.src_lo[rows].astype(np.uint64), p.sport[rows].astype(np.uint64)], axis=1)
        groups, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        packets = np.bincount(inverse, minlength=len(groups))
        sizes = np.bincount(inverse, weights=p.ip_len[rows].astype(np.float64), minlength=len(groups))
        ts = p.ts_ns[rows].astype(np.int64)
        first = np.full(len(groups), np.iinfo(np.int64).max)
        last = np.full(len(groups), np.iinfo(np.int64).min)
        np.minimum.at(first, inverse, ts)
        np.maximum.at(last, inverse, ts)
        for key, count, size, start, end in zip(groups.tolist(), packets.tolist(), sizes.tolist(),
                                                first.tolist(), last.tolist()):
            _add(self.channel_data, tuple(key), count, int(size), start, end)

    # ------------------------------------------------------------------ a worker's results

    def summary(self) -> tuple:
        return (self.ends, self.permissions, self.bindings, self.refused, self.indications, self.channel_data,
                self.allocations)

    def absorb(self, summary: tuple) -> None:
        ends, permissions, bindings, refused, indications, channel_data, allocations = summary
        for flow, value in allocations.items():
            self.allocations.setdefault(flow, value)
        for flow, value in ends.items():
            self.ends.setdefault(flow, value)
        for key, value in permissions.items():
            self.permissions.setdefault(key, value)
        for key, value in bindings.items():
            self.bindings.setdefault(key, value)
        self.refused |= set(refused)
        for mine, theirs in ((self.indications, indications), (self.channel_data, channel_data)):
            for key, (count, size, start, end) in theirs.items():
                _add(mine, key, count, size, start, end)

    # ------------------------------------------------------------------ the end

    def relays(self, uid_of: dict[int, str], address: Callable[[int, int], str]) -> dict[str, str]:
        """Every flow that spoke TURN to a relay, peers seen or not: uid -> the relay's address."""
        return {uid_of[flow]: address(*ends[3:5]) for flow, ends in self.ends.items() if flow in uid_of}

    def peers(self, uid_of: dict[int, str], address: Callable[[int, int], str]) -> list[RelayedPeer]:
        """Every peer of every relay flow in ``uid_of`` (flow index -> uid), sorted."""
        found: dict[tuple, dict] = {}

        def peer(flow: int, ip: str, port: int) -> dict:
            return found.setdefault((flow, ip, port), {"sent": [0, 0], "received": [0, 0], "first": None,
                                                       "last": None, "how": []})

        def seen(entry: dict, how: str, start: float, end: float) -> None:
            entry["first"] = start if entry["first"] is None else min(entry["first"], start)
            entry["last"] = end if entry["last"] is None else max(entry["last"], end)
            if how not in entry["how"]:
                entry["how"].append(how)

        for (flow, transaction), (ts, permitted) in self.permissions.items():
            if (flow, transaction) not in self.refused:  # a refused permission relays nothing
                for ip, port in permitted:
                    seen(peer(flow, ip, port), "permission", ts, ts)
        channels: dict[tuple[int, int], tuple[str, int]] = {}
        for (flow, transaction), (channel, ip, port, ts) in sorted(self.bindings.items(), key=lambda kv: kv[1][3]):
            if (flow, transaction) in self.refused:
                continue
            channels.setdefault((flow, channel), (ip, port))  # a channel is bound to one peer for its life
            if channels[(flow, channel)] == (ip, port):
                seen(peer(flow, ip, port), f"channel 0x{channel:04x}", ts, ts)
        for (flow, method, ip, port), (count, size, start, end) in self.indications.items():
            entry = peer(flow, ip, port)
            counter = entry["sent" if method == "send" else "received"]
            counter[0] += count
            counter[1] += size
            seen(entry, method, start, end)
        for (flow, channel, hi, lo, port), (count, size, start, end) in self.channel_data.items():
            bound, ends = channels.get((flow, channel)), self.ends.get(flow)
            if bound is None or ends is None:
                continue  # not a bound channel of a TURN flow: some other protocol's bytes
            entry = peer(flow, *bound)
            counter = entry["sent" if (hi, lo, port) == tuple(ends[:3]) else "received"]
            counter[0] += count
            counter[1] += size
            seen(entry, f"channel 0x{channel:04x}", start / 1e9, end / 1e9)
        peers = []
        for (flow, ip, port), entry in found.items():
            if flow not in uid_of or flow not in self.ends:
                continue
            relay = address(*self.ends[flow][3:5])
            peers.append(RelayedPeer(ip=ip, port=port, relay=relay, uid=uid_of[flow],
                                     sent_packets=entry["sent"][0], sent_bytes=entry["sent"][1],
                                     received_packets=entry["received"][0], received_bytes=entry["received"][1],
                                     first_ts=entry["first"], last_ts=entry["last"], learned_from=tuple(entry["how"])))
        return sorted(peers, key=lambda r: (r.uid, r.ip, r.port))


def _add(counters: dict, key: tuple, count: int, size: int, start, end) -> None:
    counter = counters.get(key)
    if counter is None:
        counters[key] = [count, size, start, end]
        return
    counter[0] += count
    counter[1] += size
    counter[_FIRST] = min(counter[_FIRST], start)
    counter[_LAST] = max(counter[_LAST], end)
