"""The SQL implementation of ModelAnalyses (a mixin of SqlStorage; the contract is in
honed.storage.analyses): one row per experiment, the analysis as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from honed.domain.analysis import Importance
from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.storage.sql.database import Transactions
from honed.storage.sql.models import ExperimentRow
from honed.storage.sql.models import ModelAnalysisRow
from honed.storage.sql.queries import get_row


class SqlModelAnalyses:
    _tx: Transactions

    def store_model_analysis(self, experiment_id: int, analysis: ModelAnalysis) -> None:
        values = {
            "experiment_id": experiment_id,
            "observation_count": analysis.observation_count,
            "computed_at": analysis.computed_at,
            "body": analysis_to_json(analysis),
        }
        with self._tx.write() as session:
            get_row(session, ExperimentRow, experiment_id)
            # Both dialects have INSERT ... ON CONFLICT: one statement, no read first.
            dialect = session.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            statement = insert(ModelAnalysisRow).values(**values)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[ModelAnalysisRow.experiment_id],
                    set_={k: statement.excluded[k] for k in values if k != "experiment_id"},
                )
            )

    def model_analysis(self, experiment_id: int) -> ModelAnalysis | None:
        with self._tx.read() as session:
            get_row(session, ExperimentRow, experiment_id)
            row = session.get(ModelAnalysisRow, experiment_id)
            return analysis_from_json(row.body) if row is not None else None


def analysis_to_json(analysis: ModelAnalysis) -> dict[str, Any]:
    body: dict[str, Any] = asdict(analysis)
    return body


def analysis_from_json(body: dict[str, Any]) -> ModelAnalysis:
    return ModelAnalysis(
        observation_count=body["observation_count"],
        computed_at=body["computed_at"],
        seconds=body["seconds"],
        sample_points=body["sample_points"],
        metrics=tuple(
            MetricAnalysis(
                metric=m["metric"],
                importance=tuple(Importance(**i) for i in m["importance"]),
                explained=m["explained"],
                anchor=dict(m["anchor"]),
                slices=tuple(
                    Slice(
                        parameter=s["parameter"],
                        values=tuple(s["values"]),
                        mean=tuple(s["mean"]),
                        lower=tuple(s["lower"]),
                        upper=tuple(s["upper"]),
                    )
                    for s in m["slices"]
                ),
                # Absent from analyses stored before honed recorded the clipping.
                clipped_at=m.get("clipped_at"),
                clipped=m.get("clipped", 0),
                # Absent from analyses stored before honed recorded where bands are cut.
                band_limits=_pair(m.get("band_limits")),
                band_cut_at=tuple(m.get("band_cut_at", ())),
            )
            for m in body["metrics"]
        ),
    )


def _pair(values: list[float] | None) -> tuple[float, float] | None:
    if values is None:
        return None
    low, high = values
    return low, high
