"""Network audits: many centres each audit their own registry and share an aggregate package
(`her2audit share`); `her2audit network` checks the packages, merges them into a network
warehouse (schema `network`) and renders the network report.

- `package`: what the network reads of a package (`her2audit.share_package`) and the checks
  that refuse a bad one (exit 2).
- `load`: packages into `network.centre_*` tables.
- `survival`: pooled survival from the centres' life tables.
- `meta`: centre hazard ratios combined by random-effects meta-analysis (statsmodels).
- `build`: the whole command; `report`: the network report (Jinja2 template).
"""
