"""The platform's periodic tasks, written to django-celery-beat's tables after migrate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int
    queue: str = "default"
    kwargs: dict[str, Any] = field(default_factory=dict)


PLATFORM_SCHEDULES: list[Schedule] = [
    Schedule("Maintain time partitions", "core.maintain_partitions", every_seconds=6 * 3600),
]


def register_schedule(schedule: Schedule) -> None:
    if all(existing.name != schedule.name for existing in PLATFORM_SCHEDULES):
        PLATFORM_SCHEDULES.append(schedule)


def sync_periodic_tasks(**_: Any) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for schedule in PLATFORM_SCHEDULES:
        interval, _created = IntervalSchedule.objects.get_or_create(every=schedule.every_seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name=schedule.name,
            defaults={
                "task": schedule.task,
                "interval": interval,
                "queue": schedule.queue,
                "kwargs": json.dumps(schedule.kwargs),
                "enabled": True,
            },
        )
