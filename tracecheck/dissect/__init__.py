"""Dissectors: names, calls and media read from the payloads of the packets that matter."""
