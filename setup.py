"""Only what pyproject.toml cannot say: the compiled record walk and where geo_db/ goes.

The extension is optional: without a C compiler tracecheck installs all the same and walks
records in Python (``tracecheck.ingest.walk``), slower but identical.
"""

from setuptools import Extension, find_packages, setup

setup(
    packages=find_packages(include=["tracecheck", "tracecheck.*"]) + ["tracecheck.geo_db"],
    package_dir={"tracecheck.geo_db": "geo_db"},
    package_data={
        "tracecheck.geo_db": ["*.yaml"],
        "tracecheck.policy": ["templates/*.yaml"],
        "tracecheck.report": ["templates/*.j2"],
    },
    ext_modules=[Extension("tracecheck.ingest._walk", ["tracecheck/ingest/_walk.c"], optional=True)],
)
