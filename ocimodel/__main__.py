"""``python -m ocimodel`` runs the command line."""

from ocimodel.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
