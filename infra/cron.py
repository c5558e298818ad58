"""Cron expressions as the Kubernetes CronJob controller reads them, checked where a setting is
validated.

The controller parses ``spec.schedule`` with the standard five-field grammar (minute, hour, day
of month, month, day of week) plus the ``@hourly``-style macros. The API server accepts some
schedules the controller later refuses to run, and a mistyped field would only show as a
CronJob that never fires, so the stack checks the grammar itself and names the field at fault.
Time zones belong in the CronJob's ``timeZone``, never in the expression (``CRON_TZ=``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

MACROS: frozenset[str] = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Three-letter names, the first standing for ``low``."""


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    # 7 is Sunday too, as in Vixie cron.
    _Field("day of week", 0, 7, _DAYS),
)
_STEP = re.compile(r"^(?P<range>[^/]+)(/(?P<step>[0-9]+))?$")


def _value(text: str, field: _Field, expression: str) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.low + field.names.index(lowered)
    if not text.isdigit():
        raise ValueError(
            f"schedule {expression!r}: {field.name} field has {text!r}, not a number"
            + (f" or one of {', '.join(field.names)}" if field.names else "")
        )
    number = int(text)
    if not field.low <= number <= field.high:
        raise ValueError(
            f"schedule {expression!r}: {field.name} {number} is outside {field.low}-{field.high}"
        )
    return number


def _values(text: str, field: _Field, expression: str) -> set[int]:
    """The values a field matches, or one line saying what is wrong with it."""
    values: set[int] = set()
    for item in text.split(","):
        match = _STEP.match(item)
        if match is None:
            raise ValueError(f"schedule {expression!r}: {field.name} field has {item!r}")
        span, step = match.group("range"), int(match.group("step") or 1)
        if step == 0:
            raise ValueError(f"schedule {expression!r}: {field.name} step must be at least 1")
        if span in {"*", "?"}:
            first, last = field.low, field.high
        else:
            start, dash, end = span.partition("-")
            first = _value(start, field, expression)
            last = _value(end, field, expression) if dash else first
            if last < first:
                raise ValueError(
                    f"schedule {expression!r}: {field.name} range {span!r} runs backwards"
                )
            if not dash and match.group("step"):
                last = field.high
        values.update(range(first, last + 1, step))
    return values


def check_schedule(expression: str) -> str:
    """``expression`` if the CronJob controller can run it; else one line naming the field."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() in MACROS:
            return text
        raise ValueError(
            f"schedule {expression!r} is not a known macro: use one of {', '.join(sorted(MACROS))}"
        )
    if "TZ=" in text:
        raise ValueError(
            f"schedule {expression!r} names a time zone: schedules run in UTC (the CronJob's "
            "timeZone), write the time in UTC"
        )
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(
            f"schedule {expression!r} has {len(parts)} fields: a cron expression has five "
            "(minute hour day-of-month month day-of-week), e.g. '30 2 * * *'"
        )
    for part, field in zip(parts, _FIELDS, strict=True):
        _values(part, field, expression)
    return " ".join(parts)


DAILY_MACROS: frozenset[str] = frozenset({"@daily", "@midnight", "@hourly"})


def runs_every_day(expression: str) -> bool:
    """Whether a valid schedule fires at least once on every day, so that no two runs are more
    than 24 h apart (day of month, month and day of week all unrestricted)."""
    text = check_schedule(expression)
    if text.startswith("@"):
        return text.lower() in DAILY_MACROS
    day_of_month, month, day_of_week = text.split()[2:]
    every = [
        _values(part, field, text) >= set(range(field.low, field.high + 1))
        for part, field in ((day_of_month, _FIELDS[2]), (month, _FIELDS[3]))
    ]
    # Sunday is 0 or 7: either one covers it.
    weekdays = {day % 7 for day in _values(day_of_week, _FIELDS[4], text)}
    return all(every) and weekdays == set(range(7))


CronSchedule = Annotated[str, AfterValidator(check_schedule)]
"""A five-field cron expression or macro, in UTC."""
