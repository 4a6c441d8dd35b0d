"""tracecheck: where did the personal data in a test call go, and was it allowed to?"""

__version__ = "0.1.0"

from tracecheck import compiled as _compiled

_compiled.install()  # before any compiled module is imported: an edited source wins (compiled.py)
