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
import pandas as pd

MAX_INGREDIENTS = 128  # ingredient ids of line-forming drugs are bits of a 128-bit mask
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
    #   n_administrations, her2_directed, has_maintenance_addition, and the regimen's and
    #   the trigger's ingredients as 128-bit masks (regimen_lo/hi, trigger_lo/hi)
    ingredient_sets: dict[str, np.ndarray]  # mask_lo, mask_hi -> ingredient_ids (a list)
    n_steps: int


def _segment_starts(sorted_ids: np.ndarray) -> np.ndarray:
    """Index of the first element of every run of equal ids."""
    if sorted_ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])


def first_of_group(pid, start, last, ingredient) -> np.ndarray:
    """Per row of the sorted input: whether it is the first of its exact-duplicate group
    (same patient, ingredient, start and last day; duplicates are adjacent)."""
    if pid.size == 0:
        return np.zeros(0, dtype=bool)
    return np.r_[True, (pid[1:] != pid[:-1]) | (start[1:] != start[:-1])
                 | (last[1:] != last[:-1]) | (ingredient[1:] != ingredient[:-1])]


def deduplicate(pid, start, last, ingredient):
    """Exact duplicates (same patient, ingredient, start and last day) count once; the input
    is sorted so duplicates are adjacent. Returns the kept arrays."""
    keep = first_of_group(pid, start, last, ingredient)
    return pid[keep], start[keep], last[keep], ingredient[keep]


def duplicated_groups(pid, start, last, ingredient, first: np.ndarray):
    """The keys (pid, start, last, ingredient) of the exact-duplicate groups with more than
    one row, once each, from the sorted input (`first`: its `first_of_group`)."""
    repeat = ~first
    keys = pid[repeat], start[repeat], last[repeat], ingredient[repeat]
    return deduplicate(*keys)


def gap_episodes(pid, start, last, max_gap: int):
    """Rule 5: a start more than `max_gap` days after the latest end of everything given
    before it opens a new episode. Returns (episode start flag per row, gap days per row)."""
    n = pid.size
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    base = int(min(start.min(), last.min())) - 1
    # (patient, last day) in one int64 whose running maximum is the latest end so far of
    # the patient; worked in place: at a million patients each temporary is 0.5 GB of
    # fresh memory for the kernel to clear
    running = pid.astype(np.int64)
    running <<= 32
    running += last
    running -= base
    np.maximum.accumulate(running, out=running)
    running &= 0xFFFFFFFF
    same_patient = np.empty(n, dtype=bool)
    same_patient[0] = False
    np.equal(pid[1:], pid[:-1], out=same_patient[1:])
    gap = np.empty(n, dtype=np.int32)
    gap[0] = 0
    np.add(running[:-1], base, out=gap[1:], casting="unsafe")  # the previous latest end
    del running
    np.subtract(start, gap, out=gap)
    gap[~same_patient] = 0
    episode_start = gap > max_gap
    episode_start |= ~same_patient
    return episode_start, gap


def _bits(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A substitution key as a bit in a 128-bit mask (two uint64 words)."""
    bit = np.left_shift(np.uint64(1), (key % 64).astype(np.uint64))
    zero = np.uint64(0)
    return np.where(key < 64, bit, zero), np.where(key >= 64, bit, zero)


def _bits_of(table: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_bits(table[ids])`, worked out once per distinct id (`table` is indexed by
    ingredient id, a few dozen entries) and gathered per row."""
    lo, hi = _bits(np.asarray(table))
    return lo[ids], hi[ids]


def _ingredient_runs(pid, start, ingredient, episode, window: int):
    """Runs of one ingredient of one patient: consecutive administrations at most `window`
    days apart, in one gap episode. Only the first administration of a run can be a new
    ingredient (an earlier one within the window means the drug was already in the line or
    its window), and a run has an administration within [s, s + window] exactly when it
    starts on or before s + window and its last administration starts on or after s.
    Returns run arrays sorted by (patient, run start, ingredient)."""
    n_ingredients = int(ingredient.max()) + 1
    patient_ingredient = pid.astype(np.int64) * n_ingredients + ingredient
    order = np.argsort(patient_ingredient, kind="stable")  # keeps start order inside
    o_pi, o_start, o_episode = patient_ingredient[order], start[order], episode[order]
    new_run = np.r_[True, (o_pi[1:] != o_pi[:-1]) | (o_start[1:] - o_start[:-1] > window)
                    | (o_episode[1:] != o_episode[:-1])]
    first = np.flatnonzero(new_run)
    last = np.r_[first[1:], o_pi.size] - 1
    r_pid, r_ingredient = pid[order[first]], ingredient[order[first]]
    r_start, r_end = o_start[first], o_start[last]
    by_start = _order_by_patient_day_ingredient(r_pid, r_start, r_ingredient)
    return r_pid[by_start], r_ingredient[by_start], r_start[by_start], r_end[by_start]


def _order_by_patient_day_ingredient(pid, day, ingredient) -> np.ndarray:
    """The order of rows by (pid, day, ingredient), given that no two rows share all three
    (two runs of one ingredient of a patient never start on the same day).

    The three fit one 64-bit key (a non-negative int32 patient, days within 2**17 of the
    first, an ingredient id below MAX_INGREDIENTS = 2**7), and one sort of that key is much
    cheaper than a three-key lexsort (1,000,000 patients, 6 million runs: 0.2 vs 1.3 s);
    the order is the same. Days spread wider than 2**17 (359 years) fall back to lexsort."""
    if pid.size == 0:
        return np.zeros(0, dtype=np.int64)
    first_day = int(day.min())
    if int(day.max()) - first_day >= 1 << 17 or int(ingredient.max()) >= MAX_INGREDIENTS:
        return np.lexsort((ingredient, day, pid))
    key = pid.astype(np.int64)
    key <<= 24
    key |= (day.astype(np.int64) - first_day) << 7
    key |= ingredient
    return np.argsort(key)


def infer(pid, start, last, ingredient, rules: IngredientRules, window: int,
          max_gap: int) -> LineResult:
    """All arrays sorted by (pid, start, last, ingredient) and deduplicated; pid >= 0."""
    # int32 rows (no copy when DuckDB already gave int32); int64 only for composite keys
    pid = np.asarray(pid, dtype=np.int32)
    start = np.asarray(start, dtype=np.int32)
    last = np.asarray(last, dtype=np.int32)
    ingredient = np.asarray(ingredient, dtype=np.int32)
    empty = np.zeros(0, dtype=np.int64)
    if pid.size == 0:
        lines = {k: empty for k in ("pid", "line_number", "start_day", "start_rule", "gap_days",
                                    "last_day", "n_administrations")}
        lines |= {"her2_directed": empty.astype(bool),
                  "has_maintenance_addition": empty.astype(bool)}
        lines |= {k: empty.astype(np.uint64)
                  for k in ("regimen_lo", "regimen_hi", "trigger_lo", "trigger_hi")}
        return LineResult(lines, _decode_sets([], []), 0)

    # rule 5: gap episodes
    episode_start, gap = gap_episodes(pid, start, last, max_gap)
    episode = np.cumsum(episode_start, dtype=np.int32) - 1
    episode_rows = np.flatnonzero(episode_start)
    ep_pid, ep_start, ep_gap = pid[episode_rows], start[episode_rows], gap[episode_rows]
    ep_end = np.full(ep_pid.size + 1, NO_DAY, dtype=np.int64)
    ep_end[:-2] = np.where(ep_pid[1:] == ep_pid[:-1], ep_start[1:], NO_DAY)

    r_pid, r_ingredient, r_start, r_end = _ingredient_runs(pid, start, ingredient, episode,
                                                           window)
    r_lo, r_hi = _bits_of(rules.key_id, r_ingredient)
    i_lo, i_hi = _bits_of(np.arange(rules.key_id.size), r_ingredient)
    r_maint = rules.maintenance_addition[r_ingredient]
    r_anchor = rules.maintenance_anchor[r_ingredient]

    n_patients = int(pid.max()) + 1
    first_episode = _segment_starts(ep_pid)
    patients = ep_pid[first_episode]
    cur_start = np.full(n_patients, NO_DAY, dtype=np.int64)
    cur_episode = np.full(n_patients, ep_pid.size, dtype=np.int64)  # -> ep_end NO_DAY
    cur_line = np.zeros(n_patients, dtype=np.int64)
    cur_rule = np.zeros(n_patients, dtype=np.int64)
    cur_gap = np.zeros(n_patients, dtype=np.int64)
    cur_trigger_lo = np.zeros(n_patients, dtype=np.uint64)
    cur_trigger_hi = np.zeros(n_patients, dtype=np.uint64)
    cur_start[patients] = ep_start[first_episode]
    cur_episode[patients] = first_episode
    cur_line[patients] = 1

    out_lines: dict[str, list[np.ndarray]] = {k: [] for k in (
        "pid", "line_number", "start_day", "start_rule", "gap_days", "mask_lo", "mask_hi",
        "regimen_lo", "regimen_hi", "trigger_lo", "trigger_hi")}

    runs = np.arange(r_pid.size)  # active runs: those ending on or after the current start
    steps = 0
    while runs.size:
        steps += 1
        a_pid, a_start = r_pid[runs], r_start[runs]
        seg_pid = a_pid[_segment_starts(a_pid)]
        s = cur_start[a_pid]
        in_episode = a_start < ep_end[cur_episode[a_pid]]
        in_window = in_episode & (a_start <= s + window)
        # the window's runs are a prefix of each patient's active runs (sorted by start)
        w_idx = np.flatnonzero(in_window)
        w_seg = _segment_starts(a_pid[w_idx])
        w_pid = a_pid[w_idx][w_seg]
        mask_lo = np.zeros(n_patients, dtype=np.uint64)
        mask_hi = np.zeros(n_patients, dtype=np.uint64)
        has_anchor = np.zeros(n_patients, dtype=bool)
        mask_lo[w_pid] = np.bitwise_or.reduceat(r_lo[runs[w_idx]], w_seg)
        mask_hi[w_pid] = np.bitwise_or.reduceat(r_hi[runs[w_idx]], w_seg)
        has_anchor[w_pid] = np.logical_or.reduceat(r_anchor[runs[w_idx]], w_seg)
        out_lines["regimen_lo"].append(np.bitwise_or.reduceat(i_lo[runs[w_idx]], w_seg))
        out_lines["regimen_hi"].append(np.bitwise_or.reduceat(i_hi[runs[w_idx]], w_seg))
        if w_pid.size != seg_pid.size:  # every line has its first administration in its window
            raise RuntimeError("lines core: a current line without a regimen")
        out_lines["trigger_lo"].append(cur_trigger_lo[seg_pid])
        out_lines["trigger_hi"].append(cur_trigger_hi[seg_pid])
        out_lines["pid"].append(seg_pid)
        out_lines["line_number"].append(cur_line[seg_pid])
        out_lines["start_day"].append(cur_start[seg_pid])
        out_lines["start_rule"].append(cur_rule[seg_pid])
        out_lines["gap_days"].append(cur_gap[seg_pid])
        out_lines["mask_lo"].append(mask_lo[seg_pid])
        out_lines["mask_hi"].append(mask_hi[seg_pid])

        # rule 3: the first run of an ingredient outside the regimen after the window
        in_regimen = ((mask_lo[a_pid] & r_lo[runs]) | (mask_hi[a_pid] & r_hi[runs])) != 0
        is_new = (in_episode & (a_start > s + window) & ~in_regimen
                  & ~(r_maint[runs] & has_anchor[a_pid]))
        next_start = np.full(n_patients, NO_DAY, dtype=np.int64)
        n_idx = np.flatnonzero(is_new)
        n_first = n_idx[_segment_starts(a_pid[n_idx])]
        next_start[a_pid[n_first]] = a_start[n_first]
        # the new ingredients of that day (contiguous: sorted by start, then ingredient)
        t_idx = np.flatnonzero(is_new & (a_start == next_start[a_pid]))
        t_seg = _segment_starts(a_pid[t_idx])
        t_pid = a_pid[t_idx][t_seg]
        cur_trigger_lo[:] = 0
        cur_trigger_hi[:] = 0
        cur_trigger_lo[t_pid] = np.bitwise_or.reduceat(i_lo[runs[t_idx]], t_seg)
        cur_trigger_hi[t_pid] = np.bitwise_or.reduceat(i_hi[runs[t_idx]], t_seg)

        # the next line of every patient that has one (a new ingredient, else a gap)
        has_new = next_start[seg_pid] != NO_DAY
        has_next_episode = ep_end[cur_episode[seg_pid]] != NO_DAY
        by_new = seg_pid[has_new]
        by_gap = seg_pid[~has_new & has_next_episode]
        cur_start[by_new] = next_start[by_new]
        cur_rule[by_new] = RULE_NEW
        cur_gap[by_new] = 0
        next_episode = cur_episode[by_gap] + 1
        cur_start[by_gap] = ep_start[next_episode]
        cur_episode[by_gap] = next_episode
        cur_rule[by_gap] = RULE_GAP
        cur_gap[by_gap] = ep_gap[next_episode]
        done = seg_pid[~has_new & ~has_next_episode]
        cur_start[done] = NO_DAY
        cur_line[by_new] += 1
        cur_line[by_gap] += 1
        runs = runs[(r_end[runs] >= cur_start[a_pid]) & (cur_start[a_pid] != NO_DAY)]

    def cat(parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    found = {k: cat(v, np.int64 if k in ("pid", "line_number", "start_day", "start_rule",
                                         "gap_days") else np.uint64)
             for k, v in out_lines.items()}
    order = np.lexsort((found["line_number"], found["pid"]))
    found = {k: v[order] for k, v in found.items()}
    lines = _line_totals(found, pid, start, last, ingredient, rules, window)
    masks = pd.DataFrame({
        "lo": np.concatenate([found["regimen_lo"], found["trigger_lo"]]),
        "hi": np.concatenate([found["regimen_hi"], found["trigger_hi"]]),
    }).drop_duplicates().sort_values(["lo", "hi"])  # hashing: a few hundred distinct sets
    return LineResult(lines=lines, ingredient_sets=_decode_sets(masks["lo"].to_numpy(),
                                                                masks["hi"].to_numpy()),
                      n_steps=steps)


def _decode_sets(lo, hi) -> dict[str, object]:
    """The distinct ingredient masks (a few hundred) and the ingredient ids in each."""
    lo, hi = np.asarray(lo, dtype=np.uint64), np.asarray(hi, dtype=np.uint64)
    ids = [[b for b in range(64) if (int(x) >> b) & 1] + [64 + b for b in range(64)
                                                         if (int(y) >> b) & 1]
           for x, y in zip(lo, hi, strict=True)]
    return {"mask_lo": lo, "mask_hi": hi, "ingredient_ids": ids}


def _line_totals(found, pid, start, last, ingredient, rules: IngredientRules, window: int):
    """Every administration belongs to the latest line of its patient started on or before
    it; per line: last day, number of administrations, HER2-directed, and whether a drug
    joined after the window outside the regimen (a maintenance addition: anything else
    would have started a line)."""
    base = int(start.min()) - 1
    line_keys = found["pid"] * (1 << 32) + (found["start_day"] - base)
    row_keys = pid.astype(np.int64) * (1 << 32) + (start - base)
    # a line starts at its first administration: find each line's first row (a search per
    # line, not per row), then number the rows by the lines begun on or before them
    first_rows = np.searchsorted(row_keys, line_keys, side="left")
    del row_keys
    begins = np.zeros(pid.size, dtype=np.int32)
    begins[first_rows] = 1
    line_of = np.cumsum(begins, dtype=np.int64)
    line_of -= 1
    del begins
    seg = _segment_starts(line_of)  # rows are sorted by (pid, start): one segment per line
    # outside = the row's substitution key is not in its line's regimen, after the window
    # (in place, one temporary at a time: each is the size of the input)
    lo, hi = _bits_of(rules.key_id, ingredient)
    in_regimen = found["mask_lo"][line_of]
    in_regimen &= lo
    del lo
    high = found["mask_hi"][line_of]
    high &= hi
    in_regimen |= high
    del high, hi
    outside = in_regimen == 0
    del in_regimen
    window_end = found["start_day"][line_of]
    window_end += window
    outside &= start > window_end
    del window_end
    lines = {k: found[k] for k in ("pid", "line_number", "start_day", "start_rule", "gap_days",
                                   "regimen_lo", "regimen_hi", "trigger_lo", "trigger_hi")}
    lines["last_day"] = np.maximum.reduceat(last, seg)
    lines["n_administrations"] = np.diff(np.r_[seg, pid.size])
    lines["her2_directed"] = np.logical_or.reduceat(rules.her2_directed[ingredient], seg)
    lines["has_maintenance_addition"] = np.logical_or.reduceat(outside, seg)
    return lines
