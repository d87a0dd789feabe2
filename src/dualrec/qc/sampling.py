# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""QC sampling: how many tickets, which ones, for which period.

No trytond import.  A draw is reproducible: the same seed and population
(ticket ids, any order) always give the same sample, so an auditor who
reads both from a stored sample can replay it with ``draw``.
"""
import datetime as dt
import math
import random
import secrets
from decimal import Decimal

PERIODS = ('daily', 'weekly', 'monthly')


def sample_size(ratio, population):
    """Return ceil(ratio × population) as an exact integer.

    ratio is a Decimal (or int / str) in [0, 1]; population a count.  Decimal
    arithmetic: 0.1 × 30 is exactly 3, never 4 as a float ceil can give
    (0.1 * 30 = 3.0000000000000004).
    """
    ratio = Decimal(str(ratio))
    if not 0 <= ratio <= 1:
        raise ValueError(f"ratio {ratio} is not between 0 and 1")
    if population < 0:
        raise ValueError("population is negative")
    return min(population, math.ceil(ratio * population))


def new_seed():
    "A fresh random seed: 64 bits as 16 hexadecimal characters."
    return secrets.token_hex(8)


def draw(seed, population, size):
    """Return size ids of population chosen at random from seed, sorted.

    The population is sorted first, so the draw does not depend on the
    order the database returned it in.
    """
    ordered = sorted(set(population))
    if size > len(ordered):
        raise ValueError("sample larger than its population")
    rng = random.Random(f'dualrec-qc:{seed}')
    return sorted(rng.sample(ordered, size))


def period_bounds(period, day):
    """Return the (first, last) dates of the period holding day.

    Weeks start on Monday (ISO 8601); months are calendar months.
    """
    if period == 'daily':
        return day, day
    if period == 'weekly':
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=6)
    if period == 'monthly':
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(days=1)
    raise ValueError(f"unknown period {period!r}")


def previous_period(period, day):
    "Return the bounds of the period before the one holding day."
    first, _ = period_bounds(period, day)
    return period_bounds(period, first - dt.timedelta(days=1))


def deadline(completed, cooling_off_days):
    """Return the last day to inspect a ticket completed on completed (a
    date): the end of its cooling-off period (犹豫期), counted in calendar
    days from the day after completion."""
    return completed + dt.timedelta(days=cooling_off_days)
