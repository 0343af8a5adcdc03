"""Registry sources. Every adapter lands the same `raw` tables (SPEC §2)."""
