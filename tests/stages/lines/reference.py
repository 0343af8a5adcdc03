"""A deliberately plain, one-patient-at-a-time reading of SPEC §4, used only as a test
oracle for the set-based implementation (which must never loop per patient)."""

from __future__ import annotations

from her2audit.stages.lines import default_line_rules
from her2audit.vocabulary import default_vocabulary


def reference_lines(
    administrations: list[tuple[int, int, str]], window: int, max_gap: int
) -> list[tuple[int, frozenset[str]]]:
    """administrations: (start_day, last_day, ingredient) of one patient, line-forming,
    metastatic setting. Returns [(line start day, regimen ingredients)]."""
    rules = default_line_rules()
    vocab = default_vocabulary()
    group = {m: g for g, ms in rules.substitution_groups.items() for m in ms}

    def key(ingredient: str) -> str:
        return group.get(ingredient, ingredient)

    adms = sorted(set(administrations))
    # gap episodes: a start more than max_gap days after the latest end so far
    episode, latest, episodes = 0, None, []
    for start, last, _ingredient in adms:
        if latest is not None and start - latest > max_gap:
            episode += 1
        episodes.append(episode)
        latest = last if latest is None else max(latest, last)

    lines: list[tuple[int, frozenset[str]]] = []
    i = 0
    while i < len(adms):
        start, ep = adms[i][0], episodes[i]
        in_line = [j for j in range(i, len(adms)) if episodes[j] == ep]
        regimen = frozenset(adms[j][2] for j in in_line if adms[j][0] <= start + window)
        keys = {key(x) for x in regimen}
        anchored = bool(regimen & set(rules.maintenance_anchors))
        nxt = None
        for j in in_line:
            s, _, ing = adms[j]
            if s <= start + window or key(ing) in keys:
                continue
            if anchored and vocab.ingredients[ing] in rules.maintenance_classes:
                continue
            nxt = j
            break
        if nxt is None:
            nxt = next((j for j in range(i, len(adms)) if episodes[j] > ep), len(adms))
        else:  # every administration on that day belongs to the next line
            while nxt > i and adms[nxt - 1][0] == adms[nxt][0]:
                nxt -= 1
        lines.append((start, regimen))
        i = nxt
    return lines
