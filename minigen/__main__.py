"""``python -m minigen``: the command line (``list``, ``train``, ``sample``, ``eval``, ``bench``).

The commands live in ``minigen/cli.py``; run ``python -m minigen --help``.
"""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
