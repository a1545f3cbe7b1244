"""The domain core of digital night supervision: pure Python, no Home Assistant.

- `schedule`: agreed local times -> the slots of a night (across midnight, DST-safe).
- `model`: the domain's words: statuses, outcomes, reasons, refusals, events, configuration.
- `state`: the records a home keeps between facts, and their JSON-safe form.
- `home`: `Supervisor`, the per-home state machine that applies the municipalities' rules.
"""

from .home import CATCH_UP_NIGHTS, Supervisor
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

__all__ = [
    "CATCH_UP_NIGHTS",
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
    "night_of",
    "parse_time",
    "slots_for_night",
    "validate_times",
]
