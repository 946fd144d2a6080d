"""The ``music2img`` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys

#: Sub-command modules; each defines ``register(subparsers)`` which adds its parser and sets
#: ``func(args) -> int`` as the parser's default.
COMMANDS = ("emotion", "image_emotion", "generate", "film")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="music2img", description="Turn music into a landscape picture through emotion.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
