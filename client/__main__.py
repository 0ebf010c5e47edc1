"""``python -m client`` is ``python -m client.mic``."""

import sys

from client.mic import main

sys.exit(main())
