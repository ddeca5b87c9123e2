"""`python -m csrgate.forwarder`: run the forwarder (configuration in CSRGATE_* environment variables)."""

import sys

from csrgate.forwarder.main import main

sys.exit(main(sys.argv[1:]))
