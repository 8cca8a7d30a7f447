"""`python -m bot` starts the service (same as `impact-bot serve`)."""

import sys

from bot.cli import main

sys.exit(main(sys.argv[1:] or ["serve"]))
