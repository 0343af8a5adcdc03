"""The line-of-therapy rules (SPEC §4) as vectorised numpy over sorted arrays.

Input: every line-forming administration of the cohort in the metastatic setting, sorted
by (patient, start day, last day, ingredient). Output: one row per line with the rule that
started it and its totals, plus the regimen ingredients and trigger ingredients per line.

The rules are sequential per patient (a line's start fixes its window, its regimen fixes
what is new), so the work proceeds in steps; each step handles the current line of every
patient at once with segment operations (`reduceat` over each patient's contiguous rows),
so the number of steps is the largest number of lines of one patient, and the rows of a
patient are dropped from the arrays as soon as they are behind its current line.
"""

from __future__ import annotations

import dataclasses

import numpy as np

NO_DAY = np.iinfo(np.int32).max  # "no such day" (no next episode, no new ingredient)
RULE_FIRST, RULE_NEW, RULE_GAP = 0, 1, 2
RULE_NAMES = ("first_administration", "new_ingredient_after_window", "gap_exceeded")


@dataclasses.dataclass
class IngredientRules:
    """Per ingredient id (index): substitution key id, flags."""

    key_id: np.ndarray  # int, 1..n_keys
    maintenance_addition: np.ndarray  # bool: endocrine / CDK4/6 class
    maintenance_anchor: np.ndarray  # bool: trastuzumab / pertuzumab
    her2_directed: np.ndarray  # bool


@dataclasses.dataclass
class LineResult:
    lines: dict[str, np.ndarray]  # pid, line_number, start_day, start_rule, gap_days, last_day,
    #                               n_administrations, her2_directed, has_maintenance_addition
    regimen_members: dict[str, np.ndarray]  # pid, line_number, ingredient_id (with repeats)
    triggers: dict[str, np.ndarray]  # pid, line_number, ingredient_id (with repeats)
    n_steps: int


def _segment_starts(sorted_ids: np.ndarray) -> np.ndarray:
    """Index of the first element of every run of equal ids."""
    if sorted_ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])


def deduplicate(pid, start, last, ingredient):
    """Exact duplicates (same patient, ingredient, start and last day) count once; the input
    is sorted so duplicates are adjacent. Returns the kept arrays."""
    if pid.size == 0:
        return pid, start, last, ingredient
    keep = np.r_[True, (pid[1:] != pid[:-1]) | (start[1:] != start[:-1])
                 | (last[1:] != last[:-1]) | (ingredient[1:] != ingredient[:-1])]
    return pid[keep], start[keep], last[keep], ingredient[keep]


def gap_episodes(pid, start, last, max_gap: int):
    """Rule 5: a start more than `max_gap` days after the latest end of everything given
    before it opens a new episode. Returns (episode start flag per row, gap days per row)."""
    n = pid.size
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    base = int(min(start.min(), last.min())) - 1
    composite = pid.astype(np.int64) * (1 << 32) + (last.astype(np.int64) - base)
    running = np.maximum.accumulate(composite)
    same_patient = np.r_[False, pid[1:] == pid[:-1]]
    previous_last = np.r_[0, (running[:-1] & 0xFFFFFFFF) + base]
    gap = np.where(same_patient, start.astype(np.int64) - previous_last, 0)
    episode_start = ~same_patient | (gap > max_gap)
    return episode_start, gap


def infer(pid, start, last, ingredient, rules: IngredientRules, window: int,
          max_gap: int) -> LineResult:
    """All arrays sorted by (pid, start, last, ingredient) and deduplicated; pid >= 0."""
    pid = pid.astype(np.int64)
    start = start.astype(np.int64)
    last = last.astype(np.int64)
    ingredient = ingredient.astype(np.int64)
    key = rules.key_id[ingredient].astype(np.int64)
    key_lo = np.where(key < 64, np.left_shift(np.uint64(1), (key % 64).astype(np.uint64)),
                      np.uint64(0)).astype(np.uint64)
    key_hi = np.where(key >= 64, np.left_shift(np.uint64(1), (key % 64).astype(np.uint64)),
                      np.uint64(0)).astype(np.uint64)
    maint = rules.maintenance_addition[ingredient]
    anchor = rules.maintenance_anchor[ingredient]
    her2 = rules.her2_directed[ingredient]

    episode_start, gap = gap_episodes(pid, start, last, max_gap)
    episode_rows = np.flatnonzero(episode_start)
    ep_pid = pid[episode_rows]
    ep_start = start[episode_rows]
    ep_gap = gap[episode_rows]
    # end of an episode = start of the patient's next episode (or none)
    ep_end = np.full(ep_pid.size, NO_DAY, dtype=np.int64)
    if ep_pid.size > 1:
        same = ep_pid[1:] == ep_pid[:-1]
        ep_end[:-1] = np.where(same, ep_start[1:], NO_DAY)

    n_patients = int(pid.max()) + 1 if pid.size else 1
    first_episode = _segment_starts(ep_pid)
    patients = ep_pid[first_episode]
    cur_start = np.full(n_patients, NO_DAY, dtype=np.int64)
    cur_episode = np.zeros(n_patients, dtype=np.int64)
    cur_line = np.zeros(n_patients, dtype=np.int64)
    cur_rule = np.zeros(n_patients, dtype=np.int64)
    cur_gap = np.zeros(n_patients, dtype=np.int64)
    cur_start[patients] = ep_start[first_episode]
    cur_episode[patients] = first_episode
    cur_line[patients] = 1
    cur_rule[patients] = RULE_FIRST

    out_lines: dict[str, list[np.ndarray]] = {k: [] for k in (
        "pid", "line_number", "start_day", "start_rule", "gap_days", "last_day",
        "n_administrations", "her2_directed", "has_maintenance_addition")}
    out_members: dict[str, list[np.ndarray]] = {"pid": [], "line_number": [], "ingredient_id": []}
    out_triggers: dict[str, list[np.ndarray]] = {"pid": [], "line_number": [], "ingredient_id": []}

    # the active rows: every row of a patient from its current line's start on
    rows = np.arange(pid.size)
    steps = 0
    while rows.size:
        steps += 1
        a_pid, a_start = pid[rows], start[rows]
        seg = _segment_starts(a_pid)
        seg_pid = a_pid[seg]
        s = cur_start[a_pid]
        episode_end = ep_end[cur_episode[a_pid]]
        in_episode = a_start < episode_end
        in_window = in_episode & (a_start <= s + window)
        # rows within the window are a prefix of each patient's rows (sorted by start)
        w_idx = np.flatnonzero(in_window)
        w_seg = _segment_starts(a_pid[w_idx])
        w_pid = a_pid[w_idx][w_seg]
        mask_lo = np.zeros(n_patients, dtype=np.uint64)
        mask_hi = np.zeros(n_patients, dtype=np.uint64)
        has_anchor = np.zeros(n_patients, dtype=bool)
        mask_lo[w_pid] = np.bitwise_or.reduceat(key_lo[rows[w_idx]], w_seg)
        mask_hi[w_pid] = np.bitwise_or.reduceat(key_hi[rows[w_idx]], w_seg)
        has_anchor[w_pid] = np.logical_or.reduceat(anchor[rows[w_idx]], w_seg)
        out_members["pid"].append(a_pid[w_idx])
        out_members["line_number"].append(cur_line[a_pid[w_idx]])
        out_members["ingredient_id"].append(ingredient[rows[w_idx]])

        r_lo, r_hi = key_lo[rows], key_hi[rows]
        in_regimen = ((mask_lo[a_pid] & r_lo) | (mask_hi[a_pid] & r_hi)) != 0
        outside = in_episode & ~in_window & ~in_regimen
        joins_as_maintenance = maint[rows] & has_anchor[a_pid]
        is_new = outside & ~joins_as_maintenance

        # rule 3: the first new ingredient after the window starts the next line
        next_start = np.full(n_patients, NO_DAY, dtype=np.int64)
        n_idx = np.flatnonzero(is_new)
        n_first = n_idx[_segment_starts(a_pid[n_idx])]
        next_start[a_pid[n_first]] = a_start[n_first]
        trig = is_new & (a_start == next_start[a_pid])
        out_triggers["pid"].append(a_pid[trig])
        out_triggers["line_number"].append(cur_line[a_pid[trig]] + 1)
        out_triggers["ingredient_id"].append(ingredient[rows[trig]])

        # the current line: its episode's rows before the next line (a prefix again)
        line_end = np.minimum(next_start, ep_end[cur_episode])
        in_line = a_start < line_end[a_pid]
        l_idx = np.flatnonzero(in_line)
        l_seg = _segment_starts(a_pid[l_idx])
        l_pid = a_pid[l_idx][l_seg]
        out_lines["pid"].append(l_pid)
        out_lines["line_number"].append(cur_line[l_pid])
        out_lines["start_day"].append(cur_start[l_pid])
        out_lines["start_rule"].append(cur_rule[l_pid])
        out_lines["gap_days"].append(cur_gap[l_pid])
        out_lines["last_day"].append(np.maximum.reduceat(last[rows[l_idx]], l_seg))
        out_lines["n_administrations"].append(np.diff(np.r_[l_seg, l_idx.size]))
        out_lines["her2_directed"].append(np.logical_or.reduceat(her2[rows[l_idx]], l_seg))
        out_lines["has_maintenance_addition"].append(
            np.logical_or.reduceat((outside & joins_as_maintenance)[l_idx], l_seg))

        # the next line of every patient that has one
        has_new = next_start[seg_pid] != NO_DAY
        next_episode = cur_episode[seg_pid] + 1
        has_next_episode = (ep_end[cur_episode[seg_pid]] != NO_DAY)
        moving = seg_pid[has_new | has_next_episode]
        by_gap = seg_pid[~has_new & has_next_episode]
        by_new = seg_pid[has_new]
        cur_start[by_new] = next_start[by_new]
        cur_rule[by_new] = RULE_NEW
        cur_gap[by_new] = 0
        ne = next_episode[~has_new & has_next_episode]
        cur_start[by_gap] = ep_start[ne]
        cur_episode[by_gap] = ne
        cur_rule[by_gap] = RULE_GAP
        cur_gap[by_gap] = ep_gap[ne]
        cur_line[moving] += 1
        done = np.ones(n_patients, dtype=bool)
        done[moving] = False
        cur_start[done] = NO_DAY
        rows = rows[a_start >= cur_start[a_pid]]

    def cat(parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    lines = {k: cat(v, bool if k in ("her2_directed", "has_maintenance_addition") else np.int64)
             for k, v in out_lines.items()}
    return LineResult(
        lines=lines,
        regimen_members={k: cat(v, np.int64) for k, v in out_members.items()},
        triggers={k: cat(v, np.int64) for k, v in out_triggers.items()},
        n_steps=steps,
    )
