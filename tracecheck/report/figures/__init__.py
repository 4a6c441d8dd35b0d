"""The report's figures as inline SVG strings: pure functions of report.json's dict (and the flow
table), escaped, deterministic, with no request ever leaving the page.  Shared by the HTML and
PDF formats."""

from tracecheck.report.figures.timeline import timeline_svg
from tracecheck.report.figures.world_map import world_map_svg

__all__ = ["timeline_svg", "world_map_svg"]
