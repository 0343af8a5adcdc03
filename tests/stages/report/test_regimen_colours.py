"""Every regimen the catalog can name has its own fixed colour in the report's figures."""

from __future__ import annotations

from her2audit.stages import lines
from her2audit.stages.report import figures


def test_every_catalog_regimen_has_a_colour_of_its_own():
    names = {r.regimen for r in lines.default_line_rules().regimens}
    assert names <= set(figures.REGIMEN_COLOURS), names - set(figures.REGIMEN_COLOURS)
    colours = [figures.REGIMEN_COLOURS[n] for n in names]
    assert len(set(colours)) == len(colours)


def test_the_sankey_uses_the_fixed_colours():
    fig = figures.sankey([
        {"source_line": 1, "source": "T-DXd + pertuzumab",
         "target": "Tucatinib + trastuzumab + capecitabine", "n": 12},
        {"source_line": 1, "source": "THP", "target": "No further line", "n": 20},
    ])
    node = fig.data[0].node
    colour_of = dict(zip(node.label, node.color, strict=True))
    assert colour_of["L1: T-DXd + pertuzumab"] == figures.REGIMEN_COLOURS["T-DXd + pertuzumab"]
    assert colour_of["L2: Tucatinib + trastuzumab + capecitabine"] == figures.REGIMEN_COLOURS[
        "Tucatinib + trastuzumab + capecitabine"]
