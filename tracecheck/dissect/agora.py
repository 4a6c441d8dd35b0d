"""Agora's SD-RTN (real-time voice and video, used by some contact-center and meeting apps): a
client's hello over UDP names the edge server it wants, in a tag-length-value ``SNI`` field.

Layout as nDPI's sd_rtn.c reads it: byte 6 is 0x21, bytes 12-15 are ``\\x04SNI``, bytes 16-17
the name's length (big-endian), byte 18 zero, the name from byte 19.  Nothing here raises.
"""

from __future__ import annotations

HELLO_MARK_AT = 6
HELLO_MARK = 0x21
SNI_TAG_AT = 12
SNI_TAG = b"\x04SNI"
NAME_AT = 19
MAX_NAME = 253


def hello_server_name(datagram: bytes) -> str | None:
    """The server name an SD-RTN hello asks for, lower-case; None if the datagram is not one."""
    if len(datagram) < NAME_AT + 1 or datagram[HELLO_MARK_AT] != HELLO_MARK:
        return None
    if bytes(datagram[SNI_TAG_AT : SNI_TAG_AT + 4]) != SNI_TAG or datagram[18] != 0:
        return None
    length = int.from_bytes(datagram[16:18], "big")
    if not 0 < length <= MAX_NAME or NAME_AT + length > len(datagram):
        return None
    raw = bytes(datagram[NAME_AT : NAME_AT + length])
    if not all(0x21 <= b < 0x7F for b in raw):
        return None
    return raw.decode("ascii").lower().rstrip(".")
