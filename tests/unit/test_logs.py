import io
import json
import logging

from patron_info_poller.logs import LIBRARY_LOGGERS, configure_logging


def test_json_lines_off_a_terminal_and_libraries_held_at_warning():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        logging.getLogger("patron_info_poller.test").debug("Batch sent", extra={"rows": 3})
        logging.getLogger("botocore.endpoint").debug("request body with a plaintext")
        logging.getLogger("httpx").info("POST with an address")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert lines == [
            {
                "time": lines[0]["time"],
                "level": "DEBUG",
                "logger": "patron_info_poller.test",
                "message": "Batch sent",
                "rows": 3,
            }
        ]
        assert all(logging.getLogger(name).level == logging.WARNING for name in LIBRARY_LOGGERS)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
