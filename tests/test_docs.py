"""The README's Configuration table and `unknot` command table stay in step with the code.

Every setting in ``server/settings.py`` is documented with its default, and every documented
``UNKNOT_*`` variable is a setting; every subcommand of ``unknot`` is in the command table with
its options and arguments, and the table lists no command or option the CLI does not have.
"""

from __future__ import annotations

import argparse
import re

import msgspec

from server.cli import build_parser
from server.settings import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text()


def section(title: str) -> str:
    """The README's text under ``## title``, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the Markdown tables in ``text`` (header and rule left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]


def documented_settings() -> dict[str, str]:
    """``UNKNOT_X`` -> its documented default, as written (without backticks when it is code)."""
    found: dict[str, str] = {}
    for name_cell, default_cell, _meaning in table_rows(section("Configuration")):
        names = re.findall(r"`(UNKNOT_[A-Z_]+)`", name_cell)
        assert names, f"no variable in {name_cell!r}"
        defaults = [d.strip() for d in default_cell.split(" / ")] if len(names) > 1 else [default_cell]
        assert len(defaults) == len(names), f"{name_cell}: one default per variable"
        found.update(zip(names, (d.strip("`") if re.fullmatch(r"`[^`]*`", d) else d for d in defaults), strict=True))
    return found


def as_written(name: str, value: object) -> str:
    """A setting's default the way the README writes it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if name in {"plans_dir", "pwa_dir"}:  # the project's own folders, wherever it is installed
        return f"{value.removeprefix(str(PROJECT_ROOT) + '/')}/"
    return str(value) if value != "" else "(none)"


def test_every_setting_is_documented_and_every_documented_variable_is_a_setting() -> None:
    settings = {f"UNKNOT_{f.name.upper()}" for f in msgspec.structs.fields(Settings)}
    documented = set(documented_settings())
    assert settings - documented == set(), "settings missing from the README's Configuration table"
    assert documented - settings == set(), "README documents variables server/settings.py does not read"


def test_documented_defaults_are_the_real_ones() -> None:
    documented = documented_settings()
    for field in msgspec.structs.fields(Settings):
        written = documented[f"UNKNOT_{field.name.upper()}"]
        if field.name == "push_hosts":  # described in words: "the four big push services"
            assert written == "the four big push services"
            assert len(field.default.split(",")) == 4
            continue
        if field.name == "allowed_hosts":  # made from the public URL in production when not set
            assert written.startswith("in production: the public URL's host and loopback")
            assert field.default == ""
            continue
        if field.name == "public_url":  # made from the host and port when not set
            assert written.startswith("`http://HOST:PORT` from the two above")
            assert field.default == ""
            continue
        assert written == as_written(field.name, field.default), f"UNKNOT_{field.name.upper()}"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def documented_commands() -> dict[str, str]:
    """Subcommand -> its usage as the README's command table writes it (``unknot NAME ...``)."""
    text = README.split("The `unknot` command", 1)[1].split("\n## ", 1)[0]
    usages: dict[str, str] = {}
    for command_cell, _what in table_rows(text):
        for usage in re.findall(r"`unknot ([^`]+)`", command_cell):
            name, _, rest = usage.partition(" ")
            assert name not in usages, f"unknot {name} is in the table twice"
            usages[name] = rest
    return usages


def test_the_command_table_lists_every_subcommand_and_no_other() -> None:
    assert set(documented_commands()) == set(subcommands())


def test_each_documented_usage_has_the_subcommands_options_and_arguments() -> None:
    parsers = subcommands()
    for name, usage in documented_commands().items():
        actions = [a for a in parsers[name]._actions if not isinstance(a, argparse._HelpAction)]
        options = {s for a in actions for s in a.option_strings if s.startswith("--")}
        positionals = [a for a in actions if not a.option_strings]
        words = usage.replace("[", " ").replace("]", " ").split()
        assert {w for w in words if w.startswith("--")} == options, f"unknot {name}: options"
        # A capitalised word names an argument, unless it is the value of the option before it.
        valued = {s for a in actions if a.option_strings and a.nargs != 0 for s in a.option_strings}
        arguments = [w for i, w in enumerate(words) if w.isupper() and not (i and words[i - 1] in valued)]
        assert len(arguments) == len(positionals), f"unknot {name}: arguments {arguments}"
