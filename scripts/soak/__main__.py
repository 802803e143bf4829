"""``python -m scripts.soak [--seconds N]`` (``make soak``; ``SOAK_SECONDS`` sets the default)."""

import sys

from scripts.soak.run import main

sys.exit(main())
