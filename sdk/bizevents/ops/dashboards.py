"""Grafana dashboards built with grafana-foundation-sdk from the specs in `panels`.

    python -m bizevents.ops.dashboards deploy/grafana/dashboards          # write the JSON
    python -m bizevents.ops.dashboards deploy/grafana/dashboards --check  # exit 1 if stale

Needs the `grafana` extra (`pip install bizevents[grafana]`); nothing else imports this module.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)

from .panels import DASHBOARDS, DashboardSpec, Kind, PanelSpec

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def _panel(spec: PanelSpec, panel_id: int) -> Stat | Timeseries:
    panel: Stat | Timeseries
    if spec.kind is Kind.STAT:
        panel = (
            Stat()
            .graph_mode(common.BigValueGraphMode.AREA)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        )
    else:
        panel = (
            Timeseries()
            .line_width(1)
            .fill_opacity(10)
            .legend(
                common_builders.VizLegendOptions()
                .display_mode(common.LegendDisplayMode.LIST)
                .placement(common.LegendPlacement.BOTTOM)
                .show_legend(True)
            )
        )
    panel = panel.id(panel_id).title(spec.title).unit(spec.unit).datasource(DATASOURCE)
    panel = panel.span(spec.width).height(spec.height)
    if spec.description:
        panel = panel.description(spec.description)
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        panel = panel.with_target(
            Dataquery().expr(query.expr).legend_format(query.legend or "__auto").ref_id(ref)
        )
    return panel


def build(spec: DashboardSpec) -> Dashboard:
    dashboard = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["bizevents", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .editable()
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for variable in spec.variables:
        dashboard = dashboard.with_variable(
            QueryVariable(variable.name)
            .label(variable.label)
            .datasource(DATASOURCE)
            .query(f"label_values({variable.metric}, {variable.name})")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    ids = itertools.count(1)  # Grafana wants panel ids unique within a dashboard
    for row in spec.rows:
        dashboard = dashboard.with_row(Row(row.title).id(next(ids)))
        for panel in row.panels:
            dashboard = dashboard.with_panel(_panel(panel, next(ids)))
    return dashboard


def render() -> dict[str, str]:
    """File name -> dashboard JSON text, exactly as committed under deploy/grafana/dashboards/."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {f"{spec.uid}.json": encoder.encode(build(spec).build()) + "\n" for spec in DASHBOARDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="folder of the dashboard JSON files")
    parser.add_argument("--check", action="store_true", help="exit 1 when a file differs")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in stale:
        print(f"{args.out / name} differs from what bizevents.ops.dashboards generates")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
