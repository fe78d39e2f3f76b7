"""``python -m hashfed_client``: the same command line as ``hashfed``."""

import sys

from hashfed_client.cli import main

sys.exit(main())
