"""``python -m ram.view``: the rollout viewer, which lives in ram/tools/view.py."""

import sys

from ram.tools.view import main

if __name__ == "__main__":
    sys.exit(main())
