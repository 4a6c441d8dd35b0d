"""Only what pyproject.toml cannot say: the compiled parts and where geo_db/ goes.

The extensions are optional: without a C compiler tracecheck installs all the same, walks
records in Python (``ingest/walk.py``), decodes every frame with NumPy (``ingest/decode.py``)
parses hellos in Python (``dissect/tls.py``), splits connections in Python
(``flows/connections.py``) and builds flows with NumPy (``flows/builder.py``): slower,
identical.

The modules in ``tracecheck/compiled.py``'s list are also compiled, unchanged, with Cython: the
loops that run once per destination or flow (judging, gathering, naming) take a sixth less
time.  The source stays the module; the build is optional, like the C parts, and
``TRACECHECK_CYTHON=0`` leaves it out.
"""

import os
import runpy

from setuptools import Extension, find_packages, setup


def cython_modules() -> list:
    """The Cython builds of ``compiled.MODULES``, or none (Cython missing, or turned off)."""
    if os.environ.get("TRACECHECK_CYTHON", "1") == "0":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    modules = runpy.run_path("tracecheck/compiled.py")["MODULES"]
    extensions = [Extension(name, [name.replace(".", "/") + ".py"], optional=True) for name in modules]
    # annotation_typing off: Cython would otherwise enforce annotations (a defaultdict where
    # ``dict`` is annotated raises), which Python never does.  The C goes to build/, not beside
    # the sources.
    built = cythonize(extensions, build_dir="build/cython", quiet=True,
                      compiler_directives={"language_level": 3, "annotation_typing": False})
    for extension in built:  # cythonize makes new Extensions, without ``optional``: no compiler, no build
        extension.optional = True
    return built


setup(
    packages=find_packages(include=["tracecheck", "tracecheck.*"]) + ["tracecheck.geo_db"],
    package_dir={"tracecheck.geo_db": "geo_db"},
    package_data={
        "tracecheck.geo_db": ["*.yaml", "*.json"],
        "tracecheck.policy": ["templates/*.yaml"],
        "tracecheck.report": ["templates/*.j2", "templates/*.typ"],
    },
    ext_modules=[
        Extension("tracecheck.ingest._walk", ["tracecheck/ingest/_walk.c"], optional=True),
        Extension("tracecheck.ingest._fastpath", ["tracecheck/ingest/_fastpath.c"], optional=True),
        Extension("tracecheck.flows._connections", ["tracecheck/flows/_connections.c"],
                  depends=["tracecheck/flows/_connections.h"], optional=True),
        Extension("tracecheck.flows._builder", ["tracecheck/flows/_builder.c"],
                  depends=["tracecheck/flows/_connections.h"], optional=True),
        Extension("tracecheck.dissect._dns", ["tracecheck/dissect/_dns.c"], optional=True),
        Extension("tracecheck.dissect._tls", ["tracecheck/dissect/_tls.c"], depends=["tracecheck/dissect/_slices.h"],
                  optional=True),
        Extension("tracecheck.dissect._select", ["tracecheck/dissect/_select.c"],
                  depends=["tracecheck/dissect/_slices.h"], optional=True),
        # libcrypto is OpenSSL's, which CPython's own ssl and hashlib use: its headers are the
        # libssl-dev package (or the platform's equivalent).
        Extension("tracecheck.dissect._quic", ["tracecheck/dissect/_quic.c"], libraries=["crypto"], optional=True),
        Extension("tracecheck.ingest._digest", ["tracecheck/ingest/_digest.c"], libraries=["crypto"], optional=True),
        *cython_modules(),
    ],
)
