"""`python -m client_sdk.cli`."""

import sys

from .main import main

sys.exit(main())
