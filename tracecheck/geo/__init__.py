"""geo: unique addresses and names in, places out (provider, region, country, jurisdiction).

``lookup.Resolver`` is the entry point; ``sources/`` holds one reader per data source,
``store`` the data directory, ``hostnames`` the regions that names give away, and ``catalog``
the curated region and jurisdiction facts shipped in ``geo_db/``.
"""
