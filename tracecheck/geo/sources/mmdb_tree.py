"""A MaxMind DB search tree, checked and turned into sorted networks in one numpy pass.

The format (https://maxmind.github.io/MaxMind-DB/): ``node_count`` nodes of two records each;
a record below ``node_count`` is a child node, equal to it is "no data", above it points into
the data section (``record - node_count - 16`` bytes in).  The tree is walked one level at a
time over the whole frontier at once, so a City database of millions of networks is read in
about a second, and every network comes out as a (first address, prefix length, data pointer)
row that the range tables can search like any published prefix list.

In an IPv6 tree the IPv4 space is the subtree at ``::/96``; ``::ffff:0:0/96`` and ``2002::/16``
point to the same node.  It is read once, as IPv4, and skipped in the IPv6 walk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
DATA_SEPARATOR = bytes(16)


@dataclass(frozen=True)
class TreeNetworks:
    """Every network of the tree, by family, sorted by first address (they never overlap)."""

    v4_first: np.ndarray
    """uint32"""
    v4_length: np.ndarray
    v4_pointer: np.ndarray
    v6_hi: np.ndarray
    """uint64, the upper half of each first address"""
    v6_lo: np.ndarray
    v6_length: np.ndarray
    v6_pointer: np.ndarray

    @property
    def count(self) -> int:
        return len(self.v4_first) + len(self.v6_hi)


def read_tree(raw: bytes, node_count: int, record_size: int, ip_version: int) -> TreeNetworks:
    """Check the search tree as a MaxMind DB writer leaves it, and list its networks.

    Raises ValueError naming what is wrong: no separator after the tree (a wrong node count),
    a record pointing back at the root or past the data section, a path longer than the
    address, or nodes no path reaches (MaxMind's ``corrupt-search-tree`` test file).
    """
    if record_size not in (24, 28, 32) or node_count <= 0 or ip_version not in (4, 6):
        raise ValueError(f"record size {record_size} / node count {node_count} / IP version {ip_version} is impossible")
    node_bytes = record_size // 4
    tree_size = node_count * node_bytes
    metadata_at = raw.rfind(METADATA_MARKER)
    data_size = metadata_at - tree_size - len(DATA_SEPARATOR)
    if metadata_at < 0 or data_size < 0:
        raise ValueError(f"the search tree of {node_count} nodes does not fit in the file")
    if raw[tree_size:tree_size + 16] != DATA_SEPARATOR:
        raise ValueError("no data section separator after the search tree: the node count is wrong")
    nodes = np.frombuffer(raw, dtype=np.uint8, count=tree_size).reshape(node_count, node_bytes).astype(np.uint32)
    walk = _Walk(*_records(nodes, record_size), node_count=node_count, data_size=data_size)

    if ip_version == 4:
        v4 = walk.networks(start=0, bits=32)
        v6 = walk.empty()
    else:
        ipv4_node, ipv4_record = walk.follow_zeros(96)
        v6 = walk.networks(start=0, bits=128, skip=ipv4_node)
        if ipv4_node is not None:
            v4 = walk.networks(start=ipv4_node, bits=32)
        elif ipv4_record is not None:  # one record for all of IPv4 (0.0.0.0/0)
            v4 = (np.zeros(1, np.uint64), np.zeros(1, np.uint64), np.zeros(1, np.int64), np.array([ipv4_record], np.int64))
        else:
            v4 = walk.empty()
    unreachable = node_count - int(walk.seen.sum())
    if unreachable:
        raise ValueError(f"{unreachable} of {node_count} search-tree nodes are unreachable: the search tree is corrupt")
    return TreeNetworks(v4_first=v4[1].astype(np.uint32), v4_length=v4[2], v4_pointer=v4[3],
                        v6_hi=v6[0], v6_lo=v6[1], v6_length=v6[2], v6_pointer=v6[3])


class _Walk:
    def __init__(self, left: np.ndarray, right: np.ndarray, node_count: int, data_size: int):
        self.left, self.right = left.astype(np.int64), right.astype(np.int64)
        self.node_count, self.data_size = node_count, data_size
        self.seen = np.zeros(node_count, dtype=bool)

    @staticmethod
    def empty() -> tuple[np.ndarray, ...]:
        return (np.empty(0, np.uint64), np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64))

    def follow_zeros(self, depth: int) -> tuple[int | None, int | None]:
        """The node (or data record) ``depth`` left turns below the root: where IPv4 lives."""
        node = 0
        for _ in range(depth):
            self._check(np.array([self.left[node]]))
            child = int(self.left[node])
            if child >= self.node_count:
                return None, (child if child > self.node_count else None)
            node = child
        return node, None

    def _check(self, children: np.ndarray) -> None:
        if (children == 0).any():
            raise ValueError("a search-tree record points back at the root: the search tree is corrupt")
        pointers = children[children > self.node_count]
        if len(pointers) and int(pointers.max()) - self.node_count - 16 >= self.data_size:
            raise ValueError("a search-tree record points past the data section: the search tree is corrupt")

    def networks(self, start: int, bits: int, skip: int | None = None) -> tuple[np.ndarray, ...]:
        """(first-address high half, low half, prefix length, data record) of every network
        below ``start``; IPv4 (``bits=32``) uses only the low half."""
        frontier = np.array([start], dtype=np.int64)
        hi = np.zeros(1, np.uint64)
        lo = np.zeros(1, np.uint64)
        self.seen[start] = True
        found: list[tuple[np.ndarray, ...]] = []
        for depth in range(bits):
            if len(frontier) == 0:
                break
            children = np.concatenate([self.left[frontier], self.right[frontier]])
            self._check(children)
            bit_position = bits - 1 - depth  # the address bit this level decides
            child_hi, child_lo = np.concatenate([hi, hi]), np.concatenate([lo, lo])
            right_half = slice(len(frontier), None)
            if bit_position >= 64:
                child_hi[right_half] |= np.uint64(1) << np.uint64(bit_position - 64)
            else:
                child_lo[right_half] |= np.uint64(1) << np.uint64(bit_position)
            is_data = children > self.node_count
            if is_data.any():
                found.append((child_hi[is_data], child_lo[is_data],
                              np.full(int(is_data.sum()), depth + 1, np.int64), children[is_data]))
            is_node = children < self.node_count
            if skip is not None:
                is_node &= children != skip
            frontier, hi, lo = children[is_node], child_hi[is_node], child_lo[is_node]
            if self.seen[frontier].any() or len(np.unique(frontier)) != len(frontier):
                raise ValueError("a search-tree node is reached by two paths: the search tree is corrupt")
            self.seen[frontier] = True
        else:
            if len(frontier):
                raise ValueError(f"a search-tree path is longer than {bits} bits: the search tree is corrupt")
        if not found:
            return self.empty()
        hi, lo, length, pointer = (np.concatenate(part) for part in zip(*found))
        order = np.lexsort((lo, hi))
        return hi[order], lo[order], length[order], pointer[order]


def _records(nodes: np.ndarray, record_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each node's left and right record (24/28/32-bit big-endian, 28 sharing a middle nibble)."""
    b = nodes
    if record_size == 24:
        return (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2], (b[:, 3] << 16) | (b[:, 4] << 8) | b[:, 5]
    if record_size == 28:
        left = ((b[:, 3] & 0xF0) << 20) | (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2]
        right = ((b[:, 3] & 0x0F) << 24) | (b[:, 4] << 16) | (b[:, 5] << 8) | b[:, 6]
        return left, right
    return ((b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3],
            (b[:, 4] << 24) | (b[:, 5] << 16) | (b[:, 6] << 8) | b[:, 7])
