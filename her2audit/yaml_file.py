"""Reading the YAML rule and parameter files: with libyaml's C parser when PyYAML has it
(about ten times faster than the pure-Python one, which every stage process would
otherwise pay for on each rule file it reads), the same safe loader's results either way."""

from __future__ import annotations

from typing import Any

import yaml

YAMLError = yaml.YAMLError
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str | bytes) -> Any:
    """The YAML document in `text`, as `yaml.safe_load` would read it."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
