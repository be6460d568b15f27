"""The two databases the poller reads.

- `connection.py`: a PostgreSQL connection that reconnects and retries reads;
- `sierra.py`: the ILS's `sierra_view`: patron changes in keyset batches, its clock;
- `warehouse.py`: Redshift: what was sent before, to skip re-geocoding.
"""
