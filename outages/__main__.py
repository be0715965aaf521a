"""python -m outages (see outages/cli.py)."""

import sys

from outages.cli import main

sys.exit(main())
