"""``python -m bots <scenario> ...``: the same options as ``live bots``."""

from __future__ import annotations

import sys

from bots.cli import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
