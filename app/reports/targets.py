"""Each checkpoint's service standard (issue 16, targets): `target_share` of its trucks
cleared within `target_minutes`, set by an admin (PUT /checkpoints/{id}/target), else the
defaults SERVICE_STANDARD_MINUTES and SERVICE_STANDARD_SHARE.

A report counts each stop against its own checkpoint's minutes (`Figures.within_target`):
a row of one checkpoint is then held to that checkpoint's share (`meets_target`); a row over
several checkpoints (an overall trend) gives the share within their own targets, and a
target and a verdict only when its checkpoints share one.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, literal, select
from sqlalchemy.orm import Session

from app.checkpoints.models import Checkpoint
from app.config import Settings


@dataclass(frozen=True)
class Targets:
    default_minutes: float
    default_share: float
    minutes: dict[uuid.UUID, float]  # the checkpoints whose minutes are not the default
    shares: dict[uuid.UUID, float]  # … whose share is not the default

    @classmethod
    def load(cls, session: Session, settings: Settings) -> "Targets":
        minutes, shares = {}, {}
        for checkpoint_id, target_minutes, target_share in session.execute(
            select(Checkpoint.id, Checkpoint.target_minutes, Checkpoint.target_share).where(
                (Checkpoint.target_minutes.is_not(None)) | (Checkpoint.target_share.is_not(None))
            )
        ):
            if target_minutes is not None and target_minutes != settings.service_standard_minutes:
                minutes[checkpoint_id] = float(target_minutes)
            if target_share is not None and target_share != settings.service_standard_share:
                shares[checkpoint_id] = float(target_share)
        return cls(
            float(settings.service_standard_minutes),
            settings.service_standard_share,
            minutes,
            shares,
        )

    def minutes_of(self, checkpoint_id: Any) -> float:
        return self.minutes.get(checkpoint_id, self.default_minutes)

    def share_of(self, checkpoint_id: Any) -> float:
        return self.shares.get(checkpoint_id, self.default_share)

    def sql_minutes(self, checkpoint: Any) -> ColumnElement[Any]:
        """Each row's checkpoint's minutes (`checkpoint`: its checkpoint id column)."""
        if not self.minutes:
            return literal(self.default_minutes)
        return case(self.minutes, value=checkpoint, else_=self.default_minutes)

    def of_row(
        self, checkpoints: set[Any], within: int, timed: int
    ) -> dict[str, float | bool | None]:
        """A row's target fields: `checkpoints`, those its stops are at (empty: unknown)."""
        share = within / timed if timed else None
        goals = {(self.minutes_of(c), self.share_of(c)) for c in checkpoints}
        if len(goals) != 1:
            return {
                "target_minutes": None,
                "target_share": None,
                "within_target_share": share,
                "meets_target": None,
            }
        ((minutes, wanted),) = goals
        return {
            "target_minutes": minutes,
            "target_share": wanted,
            "within_target_share": share,
            "meets_target": None if share is None else share >= wanted,
        }
