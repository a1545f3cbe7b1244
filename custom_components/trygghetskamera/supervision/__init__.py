"""The domain core of digital night supervision: pure Python, no Home Assistant.

- `schedule`: agreed local times -> the slots of a night (across midnight, DST-safe).
- `model`: the domain's words: statuses, outcomes, reasons, refusals, events, configuration.
- `state`: the records a home keeps between facts, and their JSON-safe form.
- `visits`: a required visit's life (acknowledged, escalated, overdue, done), `VisitBook`.
- `home`: `Supervisor`, the per-home state machine that applies the municipalities' rules.
"""

from .home import CATCH_UP_NIGHTS, COMMISSIONING_DAYS, COMMISSIONING_LOOKS, Supervisor
from .model import (
    Check,
    Event,
    EventType,
    HomeConfig,
    Outcome,
    Purpose,
    Reason,
    Refusal,
    Session,
    SlotResult,
    Status,
    Visit,
    VisitStage,
)
from .schedule import (
    ProblemCode,
    Slot,
    TimeProblem,
    night_of,
    parse_time,
    slots_for_night,
    validate_times,
)
from .state import OUTCOME_GRACE
from .visits import (
    VisitBook,
    VisitPolicy,
    to_acknowledge,
    to_finish,
    visit_state,
    visit_summary,
)

__all__ = [
    "CATCH_UP_NIGHTS",
    "COMMISSIONING_DAYS",
    "COMMISSIONING_LOOKS",
    "OUTCOME_GRACE",
    "Check",
    "Event",
    "EventType",
    "HomeConfig",
    "Outcome",
    "ProblemCode",
    "Purpose",
    "Reason",
    "Refusal",
    "Session",
    "Slot",
    "SlotResult",
    "Status",
    "Supervisor",
    "TimeProblem",
    "Visit",
    "VisitBook",
    "VisitPolicy",
    "VisitStage",
    "night_of",
    "parse_time",
    "slots_for_night",
    "to_acknowledge",
    "to_finish",
    "validate_times",
    "visit_state",
    "visit_summary",
]
