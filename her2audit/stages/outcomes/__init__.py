"""Stage `outcomes`: real-world overall survival, time to next treatment and time to
treatment discontinuation, by line, regimen, concordance and site (SPEC §7); and the
median follow-up (reverse Kaplan–Meier) of the cohort and of each site, which the report
shows.

Per-line endpoints are derived set-based in SQL (`sql/60_outcomes/`); Kaplan–Meier
curves, log-rank tests and Cox models come from lifelines (`km.py`, `compare.py`).
"""

from her2audit.stages.outcomes.stage import run

__all__ = ["run"]
