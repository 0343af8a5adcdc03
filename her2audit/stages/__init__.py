"""The pipeline's stages, one module (or package) each, in the order they run:

| stage | module | SQL |
|---|---|---|
| extract | `stages/extract.py` | `sql/10_extract/` |
| validate | `stages/validate/` | `sql/20_validate/` |
| cohort | `stages/cohort.py` | `sql/30_cohort/` |
| lines | `stages/lines/` | `sql/40_lines/` |
| concordance | `stages/concordance.py` | `sql/50_concordance/` |
| outcomes | `stages/outcomes/` | `sql/60_outcomes/` |
| marts | `stages/marts.py` | `sql/70_marts/` |
| report | `stages/report/` | (none: it reads tables and renders HTML) |
| publish | `stages/publish.py` | `sql/90_publish/` |

Each has `run(ctx: RunContext)`; `her2audit.pipeline.STAGES` lists them in order.
"""
