"""tracecheck: where did the personal data in a test call go, and was it allowed to?"""

__version__ = "0.1.0"
