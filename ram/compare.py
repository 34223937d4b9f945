"""``python -m ram.compare``: the comparison table, which lives in ram/tools/compare.py."""

import sys

from ram.tools.compare import main

if __name__ == "__main__":
    sys.exit(main())
