"""Entry point kept from the deployed poller: `ENVIRONMENT=<env> python3 main.py`."""

import sys
from pathlib import Path

# Lets a checkout run without an installed package (dependencies still come from pip).
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from patron_info_poller.cli import main

if __name__ == "__main__":
    sys.exit(main())
