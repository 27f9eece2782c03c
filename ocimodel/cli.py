"""The ``ocimodel`` command line: crane's verbs and flags, for scripts and people.

Results (digests, JSON) go to stdout and messages to stderr; an error is one line on stderr and
exit status 1 (2 for a usage error), with a traceback only under ``-v``. Verbs arrive as the
library grows; ``version`` is here from the start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ocimodel._version import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocimodel",
        description="Work with container images and registries (OCI and Docker formats).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and show tracebacks")
    parser.add_argument("--insecure", action="store_true", help="allow plain http and unverified TLS")
    parser.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="the platform to select from an index")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.add_parser("version", help="print the version of ocimodel")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verb == "version":
        print(__version__)
        return EXIT_OK
    parser.print_help(sys.stderr)
    return EXIT_USAGE
