"""Geocoding: from a patron's address parts to the census tract a record carries.

`provider.py` is the interface every provider implements; `chain.py` runs providers in
the order of the GEOCODER setting. Providers: `census.py` (the Census Bureau's batch
service, over HTTP), `tiger.py` (offline, on an index built by `tiger_build.py` from
TIGER/Line files), `geosupport.py` (NYC's Geosupport, optional). The pipeline sees only
the chain.
"""
