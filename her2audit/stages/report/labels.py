"""Human words and colours for internal names, read from data: the report's own
`wording.yaml`, the regimen group labels of the concordance rules and the indicator
titles and targets of `rules/indicator_targets.yaml`. A name the files do not know is
shown in words made from the name itself, so a new regimen group or indicator just works.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from her2audit import yaml_file
from her2audit.paths import RULES_DIR

WORDING_FILE = Path(__file__).with_name("wording.yaml")
TARGETS_FILE = RULES_DIR / "indicator_targets.yaml"
# Colours for groups the wording does not name (Okabe–Ito, then greys).
SPARE_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
                 "#CC79A7", "#000000", "#777777", "#BBBBBB")


@functools.cache
def wording() -> dict[str, Any]:
    return yaml_file.load(WORDING_FILE.read_text(encoding="utf-8"))


@functools.cache
def indicator_targets() -> dict[str, dict[str, Any]]:
    if not TARGETS_FILE.exists():
        return {}
    doc = yaml_file.load(TARGETS_FILE.read_text(encoding="utf-8")) or {}
    return dict(doc.get("indicators") or {})


@functools.cache
def regimen_group_labels() -> dict[str, str]:
    """Regimen group → words, from the concordance rules' wording (e.g. 'T-DXd')."""
    from her2audit import guidelines

    try:
        labels = guidelines.load_wording()["labels"]
    except Exception:  # a broken rule file is reported by the concordance stage, not here
        return {}
    return {group: _sentence_case(_drop_article(text)) for group, text in labels.items()}


def humanise(name: Any) -> str:
    """`first_line_thp` → 'First line thp' (the last resort for an unknown name)."""
    text = str(name).replace("_", " ").strip()
    return _sentence_case(text) if text else "–"


def _drop_article(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            return text[len(article):]
    return text


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _entry(section: str, key: Any) -> Any:
    return (wording().get(section) or {}).get(str(key))


def category(key: str) -> str:
    entry = _entry("categories", key)
    return entry["label"] if entry else humanise(key)


def category_colour(key: str) -> str:
    entry = _entry("categories", key)
    return entry["colour"] if entry else "#777777"


def categories() -> list[str]:
    return list(wording()["categories"])


def line(key: Any) -> str:
    """Line group ('1', '2', '3', '4+', 'all', or a number) in words."""
    key = str(key)
    entry = _entry("lines", key)
    if entry:
        return entry["label"]
    return f"Line {key}"


def line_short(key: Any) -> str:
    key = str(key)
    return "All lines" if key == "all" else f"Line {key}"


def line_colour(key: Any) -> str:
    entry = _entry("lines", str(key))
    if entry:
        return entry["colour"]
    return _entry("lines", "4+")["colour"]


def line_number(n: int) -> str:
    """A single line's number in words: 'First line' … 'Third line', then 'Line 4'…"""
    return line(str(n)) if n < 4 else f"Line {n}"


def line_group(line_number: int | None) -> str:
    if line_number is None:
        return "all"
    return "4+" if line_number >= 4 else str(line_number)


def position(key: str | None) -> str:
    entry = _entry("funnel_positions", key) if key else None
    return entry["label"] if entry else "–"


def position_short(key: str | None) -> str:
    entry = _entry("funnel_positions", key) if key else None
    return entry["short"] if entry else "–"


def position_colour(key: str | None) -> str:
    entry = _entry("funnel_positions", key) if key else None
    return entry["colour"] if entry else "#777777"


def positions() -> list[str]:
    return list(wording()["funnel_positions"])


def after_last_line(key: str) -> str:
    return _entry("after_last_line", key)["label"]


def after_last_line_colour(key: str) -> str:
    return _entry("after_last_line", key)["colour"]


def endpoint(key: str) -> str:
    return _entry("endpoints", key) or humanise(key)


def grouping(key: str) -> str:
    return _entry("groupings", key) or humanise(key)


def model(key: Any) -> str:
    return _entry("models", key) or humanise(key)


def context(key: str) -> str:
    return _entry("contexts", key) or humanise(key)


def quarantine_rule(rule: str) -> str:
    return _entry("quarantine_rules", rule) or "A row-level check of the extract."


def cohort_step(step: str) -> str:
    return _entry("cohort_steps", step) or humanise(step)


def cohort_reason(reason: str | None) -> str:
    if not reason:
        return ""
    return _entry("cohort_reasons", reason) or reason.replace("_", " ")


def regimen_group(group: str | None) -> str:
    if group is None:
        return "Unknown regimen"
    return regimen_group_labels().get(group) or humanise(group)


def group_value(value: Any) -> str:
    """A survival group's value: a verdict, a concordance state, a regimen group…"""
    text = str(value)
    return (_entry("group_values", text) or (category(text) if _entry("categories", text)
                                             else None) or regimen_group(text))


def indicator(key: str, definitions_title: str | None = None) -> str:
    """An indicator's title: the definitions table's own, else the targets file's."""
    if definitions_title:
        return definitions_title
    entry = indicator_targets().get(key) or {}
    return entry.get("title") or humanise(key)


def indicator_target(key: str) -> tuple[float | None, str | None]:
    entry = indicator_targets().get(key) or {}
    target = entry.get("target")
    return (float(target) if target is not None else None), entry.get("source")


def spare_colour(i: int) -> str:
    return SPARE_COLOURS[i % len(SPARE_COLOURS)]


# ---------------------------------------------------------------- numbers as text

def p_value(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"{p:.3f}"
    return f"{p:.2f}"


def number(value: Any) -> str:
    """An observed value rounded sensibly: 3 significant digits for fractions, thousands
    separators for large numbers; text stays as it is."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    text = str(value).strip()
    try:
        parsed = float(text)
    except ValueError:
        return text
    return number(int(parsed) if text.lstrip("-").isdigit() else parsed)
