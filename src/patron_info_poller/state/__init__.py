"""The poller's state in S3 and what guards it.

- `store.py`: the cursors object (S3 with conditional writes, or memory);
- `sealed_ids.py`: cursor ids and chunk boundaries sealed with a key from the salt;
- `run_lock.py`: one run at a time (`<S3_RESOURCE>.lock`);
- `steering.py`: `state show` and `state set`, validated and confirmed.
"""
