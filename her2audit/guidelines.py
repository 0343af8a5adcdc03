"""Guideline rulebooks (SPEC §6): load, check, flatten into DuckDB tables.

A rulebook is a YAML file (`rules/guidelines/*.yaml`, plus any folder given with
`--rulebooks DIR`) checked against `rules/guideline.schema.json` and then for sense:

- every citation key is defined under `references`;
- no regimen group is both preferred and alternative in one rule (or listed twice) for the
  same dates; `investigational` and `other` are never listed (such lines are always
  `trial` / `not_evaluable`);
- a rule that uses `prefer_next_in_sequence` has a `sequence` to follow;
- every `effective_to` (of a rule or of a group inside a rule) is on or after its
  `effective_from`, and every ingredient named under `if_never_given` is in the vocabulary;
- on every date the rulebook judges, every line number and context is covered by exactly
  one winning rule. Precedence: the rule with the most conditions (each of cns,
  hr_positive, early_relapse, de_novo counts one, each group under received/not_received
  counts one) wins; among equals the one written for the narrowest range of lines (`2`
  beats `2+`). Two rules that could both win for the same line, context and date are a
  contradiction and the rulebook is refused.

Approvals inside a rulebook's period: a rule, or one regimen group in a rule's list, may
carry its own `effective_from` / `effective_to`; it counts only for lines started inside
that window. A group may also be conditional on ingredients never given before the line
started, in an earlier line or before the metastatic setting (`if_never_given`, e.g. THP
from line 2 when pertuzumab was never given). What a patient
"received" is the regimen groups of their earlier lines, widened by the rulebook's
`counts_as_received` (T-DXd + pertuzumab counts as T-DXd).

A refused rulebook raises `RuleFileError` (exit 2) naming the file, the rule and the problem.

Which rulebook judges a line: the one pinned with `--guideline ID`, else the rulebook in
force at the line's start. A rulebook is in force from `effective_from` until its
`effective_to`, or until the day before the next rulebook (by `effective_from`) takes
effect, whichever is earlier. Rulebooks with `in_force_by_date: false` are used only when
pinned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import yaml

from her2audit import warehouse, yaml_file
from her2audit.errors import RuleFileError, UsageError
from her2audit.paths import PROJECT_DIR, RULES_DIR
from her2audit.vocabulary import default_vocabulary

BUILTIN_DIR = RULES_DIR / "guidelines"
SCHEMA_FILE = RULES_DIR / "guideline.schema.json"
WORDING_FILE = RULES_DIR / "concordance.yaml"

BOOL_CONDITIONS = ("cns", "hr_positive", "early_relapse", "de_novo")
NEVER_LISTED = ("investigational", "other")  # always `trial` / `not_evaluable`
OPEN_END = 10**6  # line_to of an open range ("4+") when a number is needed
MAX_HISTORY_GROUPS = 10  # received/not_received groups checked exhaustively (2**n histories)
MAX_TRACKED_INGREDIENTS = 62  # ingredients named under if_never_given (bits of a BIGINT)

_CONDITION_WORDS = {
    ("cns", True): "with CNS involvement",
    ("cns", False): "without CNS involvement",
    ("hr_positive", True): "for HR-positive disease",
    ("hr_positive", False): "for HR-negative or unknown disease",
    ("early_relapse", True): "after early relapse",
    ("early_relapse", False): "without early relapse",
    ("de_novo", True): "for de novo metastatic disease",
    ("de_novo", False): "for recurrent disease",
}


def _in_window(on: dt.date, start: dt.date | None, end: dt.date | None) -> bool:
    return (start is None or start <= on) and (end is None or on <= end)


@dataclasses.dataclass(frozen=True)
class GroupEntry:
    """A regimen group in one of a rule's lists, with the conditions of its own."""

    group: str
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    if_never_given: tuple[str, ...] = ()  # ingredients none of which was given before

    def counts(self, on: dt.date, given_ingredients: frozenset[str]) -> bool:
        return (_in_window(on, self.effective_from, self.effective_to)
                and not set(self.if_never_given) & given_ingredients)

    def overlaps(self, other: GroupEntry) -> bool:
        """Could both entries count on the same date?"""
        starts = [d for d in (self.effective_from, other.effective_from) if d is not None]
        ends = [d for d in (self.effective_to, other.effective_to) if d is not None]
        return not (starts and ends and max(starts) > min(ends))

    def describe(self, labels: Mapping[str, str]) -> str:
        """e.g. 'T-DXd from 2019-12-20' or 'THP if pertuzumab was never given'."""
        words = [labels.get(self.group, self.group)]
        if self.effective_from:
            words.append(f"from {self.effective_from}")
        if self.effective_to:
            words.append(f"until {self.effective_to}")
        if self.if_never_given:
            words.append(f"if {' or '.join(self.if_never_given)} was never given")
        return " ".join(words)


LIST_NAMES = ("preferred", "preferred_if_not_received", "alternative",
              "alternative_if_not_received")


@dataclasses.dataclass(frozen=True)
class Rule:
    rule_id: str
    order: int
    line_from: int
    line_to: int | None  # None: open range ("4+")
    conditions: tuple[tuple[str, bool], ...]  # (name, value) for cns, hr_positive, ...
    received: tuple[str, ...]
    not_received: tuple[str, ...]
    preferred: tuple[GroupEntry, ...]
    preferred_if_not_received: tuple[GroupEntry, ...]
    prefer_next_in_sequence: bool
    alternative: tuple[GroupEntry, ...]
    alternative_if_not_received: tuple[GroupEntry, ...]
    citation: tuple[str, ...]
    note: str
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None

    def lists(self) -> dict[str, tuple[GroupEntry, ...]]:
        return {name: getattr(self, name) for name in LIST_NAMES}

    def groups(self, name: str, on: dt.date, given_ingredients: frozenset[str]) -> list[str]:
        """The groups of one list that count for a line started on `on`."""
        return [e.group for e in getattr(self, name) if e.counts(on, given_ingredients)]

    @property
    def line_label(self) -> str:
        return f"{self.line_from}+" if self.line_to is None else str(self.line_from)

    @property
    def n_conditions(self) -> int:
        return len(self.conditions) + len(self.received) + len(self.not_received)

    @property
    def line_width(self) -> int:
        return (OPEN_END if self.line_to is None else self.line_to) - self.line_from

    def precedence(self) -> tuple[int, int]:
        """Higher wins: more conditions first, then a narrower range of lines."""
        return (self.n_conditions, -self.line_width)

    def matches(self, line: int, context: Mapping[str, bool], received: frozenset[str],
                on: dt.date | None = None) -> bool:
        """`received`: the groups given before (already widened by counts_as_received);
        `on`: the date the rules are read at (None: ignore the rule's own window)."""
        if line < self.line_from or (self.line_to is not None and line > self.line_to):
            return False
        if on is not None and not _in_window(on, self.effective_from, self.effective_to):
            return False
        if any(context[name] != value for name, value in self.conditions):
            return False
        return set(self.received) <= received and not (set(self.not_received) & received)

    def context_phrase(self, labels: Mapping[str, str]) -> str:
        """The rule's conditions in words, e.g. ' without CNS involvement'."""
        words = [_CONDITION_WORDS[c] for c in self.conditions]
        if self.received:
            words.append("after " + " and ".join(labels.get(g, g) for g in self.received))
        if self.not_received:
            words.append(
                "when " + " or ".join(labels.get(g, g) for g in self.not_received)
                + " was not yet given"
            )
        return "".join(f" {w}" for w in words)


@dataclasses.dataclass(frozen=True)
class Rulebook:
    id: str
    version: str
    title: str
    source: str
    effective_from: dt.date
    declared_effective_to: dt.date | None
    effective_from_reason: str
    in_force_by_date: bool
    references: Mapping[str, str]
    evidence: Mapping[str, tuple[str, ...]]
    sequence: tuple[tuple[str, ...], ...]
    rules: tuple[Rule, ...]
    path: Path
    sha256: str
    counts_as_received: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def change_dates(self) -> tuple[dt.date, ...]:
        """The dates on which what the rulebook says changes: its own start, and the first
        day and the day after the last day of every rule's and group's own window."""
        dates = {self.effective_from}
        windows = [(r.effective_from, r.effective_to) for r in self.rules]
        windows += [(e.effective_from, e.effective_to)
                    for r in self.rules for entries in r.lists().values() for e in entries]
        for start, end in windows:
            if start is not None:
                dates.add(start)
            if end is not None:
                dates.add(end + dt.timedelta(days=1))
        return tuple(sorted(dates))

    def rules_as_of(self, on: dt.date) -> dt.date:
        """The change date whose rules apply to a line started on `on` (the latest on or
        before it; the earliest for a line before all of them, e.g. when pinned)."""
        dates = self.change_dates()
        return max((d for d in dates if d <= on), default=dates[0])

    def received(self, groups: Iterable[str]) -> frozenset[str]:
        """Groups given in earlier lines, widened by counts_as_received."""
        got = set(groups)
        for group in list(got):
            got.update(self.counts_as_received.get(group, ()))
        return frozenset(got)

    def rule_for(self, line: int, context: Mapping[str, bool], received: Iterable[str],
                 on: dt.date | None = None) -> Rule:
        """The winning rule for one line (the reference implementation the SQL mirrors).
        `on`: the line's start date (default: the rulebook's first day)."""
        got = self.received(received)
        as_of = self.rules_as_of(on or self.effective_from)
        matching = [r for r in self.rules if r.matches(line, context, got, as_of)]
        return max(matching, key=lambda r: (r.precedence(), -r.order))

    def judge(self, line: int, context: Mapping[str, bool], received: Iterable[str],
              given_ingredients: Iterable[str], regimen_group: str,
              on: dt.date | None = None) -> tuple[str, str, list[str], list[str]]:
        """(category, rule_id, preferred groups, alternative groups) for one line of a
        regimen group the catalog names: the reference the concordance SQL mirrors."""
        got = self.received(received)
        given = frozenset(given_ingredients)
        as_of = self.rules_as_of(on or self.effective_from)
        rule = self.rule_for(line, context, received, on)
        preferred: list[str] = []
        if rule.prefer_next_in_sequence:
            step = next((s for s in self.sequence if not set(s) & got), ())
            preferred += [g for g in step if g not in got]
        preferred += rule.groups("preferred", as_of, given)
        preferred += [g for g in rule.groups("preferred_if_not_received", as_of, given)
                      if g not in got]
        preferred = list(dict.fromkeys(preferred))
        alternative = rule.groups("alternative", as_of, given) + [
            g for g in rule.groups("alternative_if_not_received", as_of, given) if g not in got]
        alternative = [g for g in dict.fromkeys(alternative) if g not in preferred]
        if regimen_group == "investigational":
            category = "trial"
        elif regimen_group in preferred:
            category = "preferred"
        elif regimen_group in alternative:
            category = "alternative"
        else:
            category = "not_recommended"
        return category, rule.rule_id, preferred, alternative


def _fail(path: Path, problem: str, rule: str | None = None) -> RuleFileError:
    where = f"{path}: rule {rule}: " if rule else f"{path}: "
    return RuleFileError(where + problem)


def _plain(value: Any) -> Any:
    """YAML dates to ISO strings so the JSON schema sees what the file says."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_SCHEMA_CACHE: dict[str, Any] = {}


def schema() -> dict[str, Any]:
    if "schema" not in _SCHEMA_CACHE:
        _SCHEMA_CACHE["schema"] = json.loads(SCHEMA_FILE.read_text())
    return _SCHEMA_CACHE["schema"]


def regimen_groups() -> tuple[str, ...]:
    """The SPEC §5 regimen groups, as the schema lists them."""
    return tuple(schema()["$defs"]["regimen_group"]["enum"])


def _schema_problem(path: Path, doc: dict[str, Any]) -> RuleFileError | None:
    validator = jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(e.absolute_path), e.message))
    if not errors:
        return None
    error = errors[0]
    where = list(error.absolute_path)
    rule = None
    if len(where) >= 2 and where[0] == "rules" and isinstance(where[1], int):
        entry = doc["rules"][where[1]]
        rule = str(entry.get("id")) if isinstance(entry, dict) and entry.get("id") else (
            f"#{where[1] + 1}"
        )
        where = where[2:]
    field = ".".join(str(p) for p in where)
    message = error.message
    if error.validator == "enum" and where:
        message = f"{error.instance!r} is not a regimen group (SPEC §5)"
    problem = f"{field}: {message}" if field else message
    n_more = len(errors) - 1
    if n_more:
        problem += f" (and {n_more} more problem{'s' if n_more > 1 else ''})"
    return _fail(path, problem, rule)


def _line_range(value: int | str) -> tuple[int, int | None]:
    if isinstance(value, int):
        return value, value
    return int(value.rstrip("+")), None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _entries(values: Iterable[str | Mapping[str, Any]] | None) -> tuple[GroupEntry, ...]:
    """A rule's list as written: plain group names, or mappings with conditions."""
    entries = []
    for value in values or ():
        if isinstance(value, str):
            entries.append(GroupEntry(value))
        else:
            entries.append(GroupEntry(
                group=value["group"],
                effective_from=_date(value.get("effective_from")),
                effective_to=_date(value.get("effective_to")),
                if_never_given=tuple(value.get("if_never_given") or ()),
            ))
    return tuple(entries)


def load_rulebook(path: Path) -> Rulebook:
    """Read, schema-check and sense-check one rulebook file."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
        doc = yaml_file.load(raw_bytes.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = str(exc).replace("\n", " ")
        raise _fail(path, f"cannot read the rulebook ({problem})") from None
    if not isinstance(doc, dict):
        raise _fail(path, "a rulebook must be a mapping with id, version, effective_from, rules")
    doc = _plain(doc)
    problem = _schema_problem(path, doc)
    if problem is not None:
        raise problem

    references = dict(doc.get("references") or {})
    rules: list[Rule] = []
    seen: set[str] = set()
    for order, entry in enumerate(doc["rules"], start=1):
        rid = entry["id"]
        if rid in seen:
            raise _fail(path, "rule id used twice", rid)
        seen.add(rid)
        line_from, line_to = _line_range(entry["line"])
        when = entry.get("when") or {}
        rule = Rule(
            rule_id=rid,
            order=order,
            line_from=line_from,
            line_to=line_to,
            conditions=tuple((c, bool(when[c])) for c in BOOL_CONDITIONS if c in when),
            received=tuple(when.get("received") or ()),
            not_received=tuple(when.get("not_received") or ()),
            preferred=_entries(entry.get("preferred")),
            preferred_if_not_received=_entries(entry.get("preferred_if_not_received")),
            prefer_next_in_sequence=bool(entry.get("prefer_next_in_sequence", False)),
            alternative=_entries(entry.get("alternative")),
            alternative_if_not_received=_entries(entry.get("alternative_if_not_received")),
            citation=tuple(entry["citation"]),
            note=str(entry.get("note") or "").strip(),
            effective_from=_date(entry.get("effective_from")),
            effective_to=_date(entry.get("effective_to")),
        )
        _check_rule(path, rule, references, bool(doc.get("sequence")))
        rules.append(rule)

    evidence = {g: tuple(keys) for g, keys in (doc.get("evidence") or {}).items()}
    for group, keys in evidence.items():
        for key in keys:
            if key not in references:
                raise _fail(path, f"evidence for {group} cites {key!r}, which is not under "
                                  f"references")
        if group in NEVER_LISTED:
            raise _fail(path, f"evidence: {group} is never preferred, so it cannot have evidence")
    sequence = tuple(tuple(step) for step in (doc.get("sequence") or ()))
    in_sequence = [g for step in sequence for g in step]
    for group in set(in_sequence):
        if in_sequence.count(group) > 1:
            raise _fail(path, f"sequence: {group} appears in more than one step")
        if group in NEVER_LISTED:
            raise _fail(path, f"sequence: {group} cannot be preferred")
    counts_as = {g: tuple(others) for g, others in (doc.get("counts_as_received") or {}).items()}
    for group, others in counts_as.items():
        if group in others:
            raise _fail(path, f"counts_as_received: {group} counts as itself")
        never = sorted(set(NEVER_LISTED) & {group, *others})
        if never:
            raise _fail(path, f"counts_as_received: {', '.join(never)} cannot count as "
                              f"received (such lines are never graded)")

    effective_from = dt.date.fromisoformat(doc["effective_from"])
    effective_to = doc.get("effective_to")
    declared_to = dt.date.fromisoformat(effective_to) if effective_to else None
    if declared_to is not None and declared_to < effective_from:
        raise _fail(path, f"effective_to {declared_to} is before effective_from {effective_from}")

    book = Rulebook(
        id=doc["id"],
        version=str(doc["version"]),
        title=doc["title"],
        source=" ".join(str(doc.get("source") or "").split()),
        effective_from=effective_from,
        declared_effective_to=declared_to,
        effective_from_reason=" ".join(str(doc.get("effective_from_reason") or "").split()),
        in_force_by_date=bool(doc.get("in_force_by_date", True)),
        references={k: " ".join(v.split()) for k, v in references.items()},
        evidence=evidence,
        sequence=sequence,
        rules=tuple(rules),
        path=path,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        counts_as_received=counts_as,
    )
    _check_coverage(book)
    return book


def _check_window(path: Path, where: str, start: dt.date | None, end: dt.date | None,
                  rule: str) -> None:
    if start is not None and end is not None and end < start:
        raise _fail(path, f"{where}effective_to {end} is before effective_from {start}", rule)


def _check_rule(path: Path, rule: Rule, references: Mapping[str, str], has_sequence: bool):
    rid = rule.rule_id
    for key in rule.citation:
        if key not in references:
            raise _fail(path, f"citation {key!r} is not defined under references", rid)
    _check_window(path, "", rule.effective_from, rule.effective_to, rid)
    lists = rule.lists()
    ingredients = known_ingredients()
    for name, entries in lists.items():
        for entry in entries:
            if entry.group in NEVER_LISTED:
                raise _fail(
                    path,
                    f"{name} lists {entry.group}; lines with an investigational agent are "
                    f"always 'trial' and 'other' regimens are 'not_evaluable'",
                    rid,
                )
            _check_window(path, f"{name} {entry.group}: ", entry.effective_from,
                          entry.effective_to, rid)
            unknown = [i for i in entry.if_never_given if i not in ingredients]
            if unknown:
                raise _fail(path, f"{name} {entry.group}: if_never_given names "
                                  f"{', '.join(map(repr, unknown))}, not an ingredient of the "
                                  f"drug vocabulary", rid)
        for a, b in itertools.combinations(entries, 2):
            if a.group == b.group and a.overlaps(b):
                raise _fail(path, f"{name} lists {a.group} twice for the same dates", rid)
    for (name_a, a), (name_b, b) in itertools.combinations(lists.items(), 2):
        both = sorted({x.group for x in a for y in b if x.group == y.group and x.overlaps(y)})
        if both:
            raise _fail(
                path, f"contradiction: {', '.join(both)} is both {name_a} and {name_b}", rid
            )
    both = sorted(set(rule.received) & set(rule.not_received))
    if both:
        raise _fail(
            path, f"when: {', '.join(both)} is both received and not_received, so the rule "
                  f"can never apply", rid
        )
    if rule.prefer_next_in_sequence and not has_sequence:
        raise _fail(path, "prefer_next_in_sequence is set but the rulebook has no sequence", rid)
    if not (rule.preferred or rule.preferred_if_not_received or rule.prefer_next_in_sequence
            or rule.alternative or rule.alternative_if_not_received):
        raise _fail(path, "the rule names no preferred or alternative regimen group", rid)


def _describe_context(line: int, context: Mapping[str, bool], received: frozenset[str],
                      on: dt.date | None = None) -> str:
    parts = [f"{name}={'true' if value else 'false'}" for name, value in context.items()]
    parts.append("received " + (", ".join(sorted(received)) if received else "nothing listed"))
    when = f" on {on}" if on is not None else ""
    return f"line {line}{when} with " + ", ".join(parts)


def _check_coverage(book: Rulebook) -> None:
    """On every date the rules change, every line and context has exactly one winning rule
    (exhaustive over what rules test)."""
    dated = any(r.effective_from or r.effective_to for r in book.rules)
    for on in book.change_dates() if dated else (None,):
        _check_coverage_on(book, on)


def _check_coverage_on(book: Rulebook, on: dt.date | None) -> None:
    used_bools = [c for c in BOOL_CONDITIONS if any(c in dict(r.conditions) for r in book.rules)]
    used_groups = sorted({g for r in book.rules for g in (*r.received, *r.not_received)})
    last_line = max(max(r.line_from, r.line_to or 0) for r in book.rules) + 1
    if len(used_groups) > MAX_HISTORY_GROUPS:
        raise _fail(
            book.path,
            f"the rules test {len(used_groups)} different regimen groups under received / "
            f"not_received; at most {MAX_HISTORY_GROUPS} can be checked for contradictions "
            f"(use a sequence or *_if_not_received lists instead)",
        )
    for line in range(1, last_line + 1):
        for values in itertools.product((False, True), repeat=len(used_bools)):
            context = dict(zip(used_bools, values, strict=True))
            full = {c: context.get(c, False) for c in BOOL_CONDITIONS}
            for n in range(len(used_groups) + 1):
                for received_groups in itertools.combinations(used_groups, n):
                    received = frozenset(received_groups)
                    matching = [r for r in book.rules if r.matches(line, full, received, on)]
                    where = _describe_context(line, context, received, on)
                    if not matching:
                        raise _fail(
                            book.path,
                            f"no rule covers {where}; add a rule for line "
                            f"{line if line < last_line else f'{line}+'} without conditions",
                        )
                    best = max(r.precedence() for r in matching)
                    tied = [r.rule_id for r in matching if r.precedence() == best]
                    if len(tied) > 1:
                        raise _fail(
                            book.path,
                            f"contradiction: rules {' and '.join(tied)} both apply to {where} "
                            f"with equal precedence (same number of conditions and line "
                            f"range); make one more specific or merge them",
                            tied[0],
                        )


@functools.cache
def known_ingredients() -> frozenset[str]:
    """The canonical ingredients of the drug vocabulary (for `if_never_given`)."""
    return frozenset(default_vocabulary().ingredients)


def rulebook_files(extra_dir: str | Path | None = None) -> list[Path]:
    files = sorted(BUILTIN_DIR.glob("*.yaml"))
    if extra_dir:
        folder = Path(extra_dir)
        if not folder.is_dir():
            raise UsageError(f"{folder}: --rulebooks must be a folder of rulebook YAML files")
        extra = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
        if not extra:
            raise UsageError(f"{folder}: no rulebook files (*.yaml) in this folder")
        files += extra
    return files


def load_rulebooks(extra_dir: str | Path | None = None) -> list[Rulebook]:
    """The built-in rulebooks plus those in `extra_dir`, checked as a set."""
    books: list[Rulebook] = []
    for path in rulebook_files(extra_dir):
        book = load_rulebook(path)
        for other in books:
            if other.id == book.id:
                raise _fail(path, f"id {book.id} is already used by {other.path}; "
                                  f"give this rulebook its own id")
            if (book.in_force_by_date and other.in_force_by_date
                    and book.effective_from == other.effective_from):
                raise _fail(
                    path,
                    f"takes effect on {book.effective_from} like {other.id} ({other.path}); "
                    f"only one rulebook can be in force on a date (change effective_from, or "
                    f"set in_force_by_date: false to use it only with --guideline)",
                )
        books.append(book)
    return sorted(books, key=lambda b: (b.effective_from, b.id))


def effective_periods(books: Sequence[Rulebook]) -> dict[str, tuple[dt.date, dt.date | None]]:
    """When each rulebook is in force by date; (from, to) with to None when open-ended.

    Rulebooks with in_force_by_date false are never in force by date: their period is
    their declared one, recorded for information only.
    """
    by_date = sorted((b for b in books if b.in_force_by_date), key=lambda b: b.effective_from)
    periods: dict[str, tuple[dt.date, dt.date | None]] = {}
    for i, book in enumerate(by_date):
        end = book.declared_effective_to
        if i + 1 < len(by_date):
            successor_end = by_date[i + 1].effective_from - dt.timedelta(days=1)
            end = successor_end if end is None else min(end, successor_end)
        periods[book.id] = (book.effective_from, end)
    for book in books:
        periods.setdefault(book.id, (book.effective_from, book.declared_effective_to))
    return periods


def display_path(path: Path) -> str:
    """A built-in rulebook's path inside the project; a user's rulebook as given."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def check_pinned(books: Sequence[Rulebook], pinned: str | None) -> None:
    if pinned is None:
        return
    known = sorted(b.id for b in books)
    if pinned not in known:
        raise UsageError(
            f"--guideline {pinned}: no such rulebook; known rulebooks: {', '.join(known)}"
        )


def load_wording() -> dict[str, Any]:
    try:
        doc = yaml_file.load(WORDING_FILE.read_text())
        labels = doc["regimen_group_labels"]
        indicators = doc["quality_indicators"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{WORDING_FILE}: cannot read ({exc})") from None
    missing = sorted(set(regimen_groups()) - set(labels))
    if missing:
        raise RuleFileError(f"{WORDING_FILE}: regimen_group_labels lacks {', '.join(missing)}")
    return {"labels": dict(labels), "indicators": list(indicators)}


def write_tables(
    con: duckdb.DuckDBPyConnection, books: Sequence[Rulebook], pinned: str | None
) -> None:
    """Flatten the rulebooks into staging tables the concordance SQL joins against.

    staging.guideline_rulebooks  one row per rulebook (resolved effective period, judging)
    staging.guideline_rules      one row per rule (conditions, own window, lists of
                                 {regimen_group, effective_from, effective_to,
                                 if_never_given}, precedence, wording)
    staging.guideline_change_dates  rulebook x date on which its rules change
    staging.guideline_counts_as  rulebook x regimen group -> a group it counts as received
    staging.guideline_tracked_ingredients  ingredient -> bit, for every ingredient named
                                 under if_never_given (what earlier lines gave is a mask)
    staging.guideline_evidence   rulebook x regimen group -> citation text for reasons
    staging.regimen_group_labels regimen group -> words used in reasons
    """
    check_pinned(books, pinned)
    wording = load_wording()
    labels = wording["labels"]
    periods = effective_periods(books)

    con.execute(
        """
        create or replace table staging.guideline_rulebooks (
            guideline_id varchar, version varchar, title varchar, source varchar,
            file varchar, sha256 varchar, effective_from date, effective_to date,
            declared_effective_to date, effective_from_reason varchar,
            in_force_by_date boolean, pinned boolean, judges_by_date boolean,
            sequence varchar[][], n_rules integer, rulebook_order integer
        )
        """
    )
    warehouse.insert_rows(con, "staging.guideline_rulebooks", [
            (
                b.id, b.version, b.title, b.source, display_path(b.path), b.sha256,
                periods[b.id][0], periods[b.id][1], b.declared_effective_to,
                b.effective_from_reason, b.in_force_by_date, b.id == pinned,
                pinned is None and b.in_force_by_date,
                [list(step) for step in b.sequence], len(b.rules), i,
            )
            for i, b in enumerate(books, start=1)
        ],
    )

    entry = ("struct(regimen_group varchar, effective_from date, effective_to date, "
             "if_never_given varchar[])[]")
    con.execute(
        f"""
        create or replace table staging.guideline_rules (
            guideline_id varchar, rule_id varchar, rule_order integer,
            line_from integer, line_to integer, line_label varchar,
            effective_from date, effective_to date,
            cns boolean, hr_positive boolean, early_relapse boolean, de_novo boolean,
            received varchar[], not_received varchar[],
            preferred {entry}, preferred_if_not_received {entry},
            prefer_next_in_sequence boolean,
            alternative {entry}, alternative_if_not_received {entry},
            n_conditions integer, line_width integer,
            citation varchar, citation_keys varchar[], context_phrase varchar,
            conditional_groups varchar, note varchar
        )
        """
    )

    def entries(items: Sequence[GroupEntry]) -> list[dict[str, Any]]:
        return [
            {"regimen_group": e.group, "effective_from": e.effective_from,
             "effective_to": e.effective_to, "if_never_given": list(e.if_never_given)}
            for e in items
        ]

    rows = []
    for b in books:
        for r in b.rules:
            cond = dict(r.conditions)
            conditional = "; ".join(
                f"{e.describe(labels)} ({name.replace('_', ' ')})"
                for name, items in r.lists().items() for e in items
                if e.effective_from or e.effective_to or e.if_never_given
            )
            rows.append((
                b.id, r.rule_id, r.order, r.line_from, r.line_to, r.line_label,
                r.effective_from, r.effective_to,
                cond.get("cns"), cond.get("hr_positive"), cond.get("early_relapse"),
                cond.get("de_novo"), list(r.received), list(r.not_received),
                entries(r.preferred), entries(r.preferred_if_not_received),
                r.prefer_next_in_sequence, entries(r.alternative),
                entries(r.alternative_if_not_received), r.n_conditions, r.line_width,
                "; ".join(r.citation), list(r.citation), r.context_phrase(labels),
                conditional or None, r.note,
            ))
    warehouse.insert_rows(con, "staging.guideline_rules", rows)

    con.execute(
        "create or replace table staging.guideline_change_dates "
        "(guideline_id varchar, change_date date)"
    )
    warehouse.insert_rows(con, "staging.guideline_change_dates",
                          [(b.id, d) for b in books for d in b.change_dates()])
    con.execute(
        "create or replace table staging.guideline_counts_as "
        "(guideline_id varchar, regimen_group varchar, counts_as varchar)"
    )
    counts_as_rows = [(b.id, group, other) for b in books
                      for group, others in b.counts_as_received.items() for other in others]
    if counts_as_rows:
        warehouse.insert_rows(con, "staging.guideline_counts_as", counts_as_rows)
    tracked = sorted({i for b in books for r in b.rules for items in r.lists().values()
                      for e in items for i in e.if_never_given})
    if len(tracked) > MAX_TRACKED_INGREDIENTS:  # each is one bit of a BIGINT mask
        raise RuleFileError(
            f"the rulebooks name {len(tracked)} different ingredients under if_never_given; "
            f"at most {MAX_TRACKED_INGREDIENTS} can be tracked")
    con.execute(
        "create or replace table staging.guideline_tracked_ingredients "
        "(ingredient varchar, bit integer)"
    )
    if tracked:
        warehouse.insert_rows(con, "staging.guideline_tracked_ingredients",
                              [(ingredient, bit) for bit, ingredient in enumerate(tracked)])

    con.execute(
        "create or replace table staging.guideline_evidence "
        "(guideline_id varchar, regimen_group varchar, citation varchar)"
    )
    evidence_rows = [
        (b.id, group, "; ".join(keys)) for b in books for group, keys in b.evidence.items()
    ]
    if evidence_rows:
        warehouse.insert_rows(con, "staging.guideline_evidence", evidence_rows)

    con.execute(
        "create or replace table staging.regimen_group_labels "
        "(regimen_group varchar, label varchar)"
    )
    warehouse.insert_rows(con, "staging.regimen_group_labels", sorted(labels.items()))

    con.execute(
        """
        create or replace table build.quality_indicator_definitions (
            indicator varchar, definition varchar, numerator varchar, denominator varchar,
            unit varchar, period_basis varchar, indicator_order integer
        )
        """
    )
    warehouse.insert_rows(con, "build.quality_indicator_definitions", [
            (
                q["indicator"], " ".join(q["definition"].split()),
                " ".join(q["numerator"].split()), " ".join(q["denominator"].split()),
                q["unit"], q["period_basis"], i,
            )
            for i, q in enumerate(wording["indicators"], start=1)
        ],
    )
