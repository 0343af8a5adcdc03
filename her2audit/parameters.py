"""Run parameters: line-of-therapy rules, guideline pinning, data cut-off.

Defaults live in `rules/parameters.yaml`; a run may override any of them from a YAML
config file (`--config`) or from command-line options. The values used are recorded in
`audit.runs` and exposed to SQL as DuckDB variables (`getvariable('max_gap_days')`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from her2audit import yaml_file
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

DEFAULTS_FILE = RULES_DIR / "parameters.yaml"


@dataclasses.dataclass(frozen=True)
class RunParameters:
    pre_index_days: int = 30
    regimen_window_days: int = 28
    max_gap_days: int = 120
    guideline: str | None = None
    data_cutoff: dt.date | None = None
    rulebooks: str | None = None  # folder of extra guideline rulebooks (YAML)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.data_cutoff is not None:
            out["data_cutoff"] = self.data_cutoff.isoformat()
        return out

    def sql_variables(self) -> dict[str, Any]:
        """Values set as DuckDB variables before every SQL stage."""
        return {
            "pre_index_days": self.pre_index_days,
            "regimen_window_days": self.regimen_window_days,
            "max_gap_days": self.max_gap_days,
            "pinned_guideline": self.guideline,
            "data_cutoff": self.data_cutoff,
        }


_FIELDS = {f.name: f for f in dataclasses.fields(RunParameters)}


def _coerce(name: str, value: Any, source: str) -> Any:
    if value is None:
        return None
    if name in ("pre_index_days", "regimen_window_days", "max_gap_days"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            try:
                value = int(str(value))
            except ValueError:
                raise RuleFileError(
                    f"{source}: parameter {name} must be a non-negative whole number of days, "
                    f"got {value!r}"
                ) from None
            if value < 0:
                raise RuleFileError(f"{source}: parameter {name} must not be negative")
        return value
    if name == "data_cutoff":
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise RuleFileError(
                f"{source}: data_cutoff must be a date YYYY-MM-DD, got {value!r}"
            ) from None
    return str(value)


def load_parameters(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> RunParameters:
    """Defaults, then the config file, then explicit overrides (None means not given)."""
    values: dict[str, Any] = {}
    for source in [DEFAULTS_FILE, config_file]:
        if source is None:
            continue
        try:
            loaded = yaml_file.load(Path(source).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RuleFileError(f"{source}: cannot read parameters ({exc})") from None
        if not isinstance(loaded, dict):
            raise RuleFileError(f"{source}: expected a mapping of parameter: value")
        # a config file may also hold the sensitivity grid (her2audit.sensitivity)
        params = loaded.get("parameters", {k: v for k, v in loaded.items() if k != "sensitivity"})
        for name, value in params.items():
            if name not in _FIELDS:
                raise RuleFileError(
                    f"{source}: unknown parameter {name!r}; known: {', '.join(sorted(_FIELDS))}"
                )
            values[name] = _coerce(name, value, str(source))
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value, "command line")
    return RunParameters(**values)


# The `sensitivity:` grid of rules/parameters.yaml (read by `her2audit sensitivity`; here,
# with no heavy import, so the command line's help can show it).
GRID_KEYS = ("max_gap_days", "regimen_window_days", "pre_index_days")


def grid_days(name: str, value: Any, source: str) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                         for v in values):
        raise RuleFileError(
            f"{source}: sensitivity {name} must be a list of non-negative whole numbers of "
            f"days, got {value!r}")
    return sorted(set(values))


def grid_section(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml_file.load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{path}: cannot read ({exc})") from None
    section = loaded.get("sensitivity", {}) if isinstance(loaded, dict) else None
    if not isinstance(section, dict):
        raise RuleFileError(f"{path}: `sensitivity` must be a mapping of parameter: [days, ...]")
    unknown = sorted(set(section) - set(GRID_KEYS))
    if unknown:
        raise RuleFileError(f"{path}: sensitivity: unknown parameter {unknown[0]!r}; known: "
                            f"{', '.join(GRID_KEYS)}")
    return section


def sensitivity_grid() -> dict[str, list[int]]:
    """The grid of rules/parameters.yaml (`sensitivity:`), for help texts."""
    return {name: grid_days(name, value, str(DEFAULTS_FILE))
            for name, value in grid_section(DEFAULTS_FILE).items()}
