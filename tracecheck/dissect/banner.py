"""Server greetings that name the server: SMTP and FTP ``220``, POP3 ``+OK``, IMAP ``* OK``,
Munin's ``# munin node at``.

A server that speaks first says who it is.  SMTP's greeting starts with the server's own domain
by rule (RFC 5321 section 4.3.1: ``220 mx.example.com ESMTP ...``), and Munin's names the node;
FTP, POP3 and IMAP greetings are free text, where a first word that is a dotted host name is by
custom the server's.  Either way it is the server's own claim about its name: it says who runs
the server, never where it is, so tracecheck keeps it as a ``banner`` name that classification
may read and geo never places an address by (``vocabulary.CLASSIFY_ONLY_SOURCES``).

Only the first line of the first ``MAX_GREETING`` bytes is read, and the name must be a host
name (``_wire.host_name``): a greeting is whatever the server was set to say.
"""

from __future__ import annotations

from typing import NamedTuple

from tracecheck.dissect._wire import host_name

MAX_GREETING = 512
"""Bytes of a greeting read: RFC 5321 bounds a reply line at 512."""
LABELS = {"smtp": "SMTP", "ftp": "FTP", "pop3": "POP3", "imap": "IMAP", "munin": "Munin"}
"""How a report writes each ``Greeting.protocol``."""
_SMTP_WORDS = frozenset({"SMTP", "ESMTP"})
_NOT_A_NAME = frozenset({"localhost", "localhost.localdomain"})


class Greeting(NamedTuple):
    protocol: str
    """``smtp``, ``ftp`` (a 220 greeting that does not say SMTP), ``pop3``, ``imap`` or ``munin``."""
    name: str
    """The host name the server gives itself, lower-case."""


def greeting_name(payload: bytes) -> Greeting | None:
    """The name a server's first line gives the server, if it is a greeting that names one."""
    line = bytes(payload[:MAX_GREETING]).split(b"\n", 1)[0].rstrip(b"\r")
    if not line.isascii():
        return None
    text = line.decode("ascii")
    if text.startswith("# munin node at "):
        return _named("munin", text[16:].strip(), dotted=False)
    if text[:4] in ("220 ", "220-"):
        words = text[4:].split()
        if not words or words[0].upper() in _SMTP_WORDS:  # 220 ESMTP Postfix: no name given
            return None
        # SMTP's first word is its domain by rule; FTP's is free text, often the software's name.
        smtp = any(word.upper() in _SMTP_WORDS for word in words[1:])
        return _named("smtp" if smtp else "ftp", words[0], dotted=not smtp)
    if text.startswith("+OK "):
        words = text[4:].split()
        return _named("pop3", words[0], dotted=True) if words else None
    if text.startswith("* OK "):
        rest = text[5:].lstrip()
        if rest.startswith("["):  # a response code: [CAPABILITY ...]
            rest = rest.partition("]")[2]
        words = rest.split()
        return _named("imap", words[0], dotted=True) if words else None
    return None


def _named(protocol: str, word: str, dotted: bool) -> Greeting | None:
    """``word`` as the server's name: a host name, with a dot unless the protocol puts a name there."""
    name = host_name(word)
    if name is None or name in _NOT_A_NAME or (dotted and "." not in name):
        return None
    return Greeting(protocol, name)
