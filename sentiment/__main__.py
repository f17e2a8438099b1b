"""`python -m sentiment ...`: the command line (see `sentiment.cli`)."""

import sys

from sentiment.cli import main

if __name__ == "__main__":
    sys.exit(main())
