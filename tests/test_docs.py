"""The README and docs/ stay true to the repository: every file they link exists, and every ``--flag``
written next to ``music2img COMMAND``, ``python app.py``, ``python train/x.py`` or
``python benchmarks/x.py`` is one that command's argparse parser accepts (read from its ``--help``)."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
import sys
from pathlib import Path

import pytest
from conftest import REPO

DOCS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "train" / "GPU.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
SCRIPT = re.compile(r"(?<![\w/.])(app\.py|(?:train|benchmarks)/[a-z_][a-z0-9_]*\.py)\b")
CLI = re.compile(r"(?<![\w/.-])music2img\s+([a-z][a-z-]*)")
FLAG = re.compile(r"^--([a-z0-9][a-z0-9-]*)(=.*)?$")
STOP = {"&&", "||", ";", "|", ">", ">>", "2>&1", "&"}


def relative_links(text: str) -> list[str]:
    """Link and image targets that point into the repository (no URL, no bare anchor)."""
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    return [t.split("#", 1)[0] for t in targets]


def code_segments(text: str) -> list[str]:
    """Fenced code blocks (one entry per logical line, ``\\`` continuations joined, ``#`` comments cut)
    and inline code spans, outside the fenced blocks."""
    segments = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            segments.append(re.split(r"(?:^|\s)#", line, maxsplit=1)[0])
    segments += SPAN.findall(FENCE.sub("", text))
    return segments


def documented_commands(segment: str) -> list[tuple[str, str | None, list[str], list[str]]]:
    """``(kind, name, words, flags)`` for every command in ``segment``: kind ``"cli"`` (name: the
    sub-command) or ``"script"`` (name: its path); ``words`` are the bare words that follow it (a
    script's own sub-command comes first), ``flags`` the ``--flags`` up to the next command or shell operator."""
    starts = sorted(
        [(m.start(), m.end(), "cli", m.group(1)) for m in CLI.finditer(segment)]
        + [(m.start(), m.end(), "script", m.group(1)) for m in SCRIPT.finditer(segment)]
    )
    found = []
    for i, (_, end, kind, name) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else len(segment)
        words, flags = [], []
        for token in segment[end:stop].split():
            if token in STOP:
                break
            token = token.strip("[](),;:")
            if m := FLAG.match(token):
                flags.append(m.group(1))
            elif re.fullmatch(r"[a-z][a-z_-]*", token):
                words.append(token)
        found.append((kind, name, words, flags))
    return found


def option_flags(help_text: str) -> set[str]:
    """The long options of an argparse ``--help`` text (its option lines, not the prose)."""
    flags = set()
    for line in help_text.splitlines():
        if line.lstrip().startswith("-"):
            head = re.split(r"\s{2,}", line.strip())[0]
            flags.update(re.findall(r"--([A-Za-z0-9][\w-]*)", head))
    return flags


def _subcommands(parser) -> dict:
    """A parser's sub-command parsers by name (none if it has none)."""
    import argparse

    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


@functools.cache
def cli_parsers() -> dict:
    """``music2img``'s sub-command parsers by name."""
    from music2img.cli import build_parser

    return _subcommands(build_parser())


def cli_flags(name: str, words: list[str]) -> set[str]:
    """Long options of ``music2img NAME``, and of its own sub-command when the first word names one
    (``music2img ratings report``)."""
    parser = cli_parsers()[name]
    nested = _subcommands(parser)
    parsers = [parser] + ([nested[words[0]]] if words and words[0] in nested else [])
    return {o[2:] for p in parsers for o in p._option_string_actions if o.startswith("--")}


@functools.cache
def script_help(path: str, sub: str | None = None) -> str:
    """What ``python PATH [SUB] --help`` prints, run in this process (the script's ``main`` reads ``sys.argv``)."""
    name = f"_documented_{Path(path).stem}"
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(module)
    out, argv = io.StringIO(), sys.argv
    sys.argv = [path, *([sub] if sub else []), "--help"]
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
            module.main()
    finally:
        sys.argv = argv
    assert exit_.value.code == 0, f"{path} {sub or ''} --help failed"
    return out.getvalue()


def script_flags(path: str, words: list[str]) -> set[str]:
    """Long options of the script, and of its sub-command when the first word names one."""
    top = script_help(path)
    choices = re.search(r"\{([\w,-]+)\}", top.split("\n\n", 1)[0])
    if choices and words and words[0] in choices.group(1).split(","):
        return option_flags(script_help(path, words[0])) | option_flags(top)
    return option_flags(top)


def test_every_linked_file_exists():
    missing = [
        f"{doc.relative_to(REPO)}: {target}"
        for doc in DOCS
        for target in relative_links(doc.read_text(encoding="utf-8"))
        if target and not (doc.parent / target).exists()
    ]
    assert not missing, "links to files that do not exist:\n" + "\n".join(missing)


def test_every_documented_flag_exists():
    wrong, checked = [], 0
    for doc in DOCS:
        for segment in code_segments(doc.read_text(encoding="utf-8")):
            for kind, name, words, flags in documented_commands(segment):
                where = f"{doc.relative_to(REPO)}: `{segment.strip()[:90]}`"
                if kind == "cli":
                    if name not in cli_parsers():
                        wrong.append(f"{where}: no sub-command `music2img {name}`")
                        continue
                    known = cli_flags(name, words)
                else:
                    if not (REPO / name).is_file():
                        wrong.append(f"{where}: no script {name}")
                        continue
                    if not flags:
                        continue
                    known = script_flags(name, words)
                wrong += [f"{where}: {name} has no --{f}" for f in flags if f not in known and f != "help"]
                checked += len(flags)
    assert not wrong, "documented flags that the parsers do not accept:\n" + "\n".join(wrong)
    assert checked > 50  # the docs do document flags: the parsing above found them


def test_the_checks_catch_a_stale_link_and_a_stale_flag(tmp_path):
    text = (
        "See [the card](missing/CARD.md), [the site](https://example.org) and [a section](#usage).\n\n"
        "```bash\nmusic2img generate --valence 7 --no-such-flag \\\n    --seed 0   # --not-a-flag: a comment\n"
        "python benchmarks/film.py speed --seconds 60 && python app.py --port 1\n```\n"
        "Run `train/gan.py --resolution 64 …`.\n"
    )
    assert relative_links(text) == ["missing/CARD.md"]
    commands = [c for s in code_segments(text) for c in documented_commands(s)]
    assert commands == [
        ("cli", "generate", [], ["valence", "no-such-flag", "seed"]),
        ("script", "benchmarks/film.py", ["speed"], ["seconds"]),
        ("script", "app.py", [], ["port"]),
        ("script", "train/gan.py", [], ["resolution"]),
    ]
    assert "no-such-flag" not in cli_flags("generate", []) and "valence" in cli_flags("generate", [])
    assert "out" in cli_flags("ratings", ["report"]) and "out" not in cli_flags("ratings", [])
    assert option_flags("usage: x [-h] [--a A]\n\noptions:\n  -h, --help  show\n  --a A, --b A  uses --c\n") == {
        "help",
        "a",
        "b",
    }
