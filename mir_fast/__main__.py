"""``python -m mir_fast``: the demo on the embedded digits (or the CLI with arguments)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["demo"]))
