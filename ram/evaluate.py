"""``python -m ram.evaluate``: score a checkpoint on the fixed test split (ram/tools/evaluate.py)."""

import sys

from ram.tools.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
