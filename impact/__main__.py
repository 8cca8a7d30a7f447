"""`python -m impact` starts the service (same as `impact-bot serve`)."""

import sys

from impact.main import main

sys.exit(main(sys.argv[1:] or ["serve"]))
