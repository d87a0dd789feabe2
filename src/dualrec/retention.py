# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""How long a recording must be kept: pure date arithmetic, no database.

The regulator (CIRC 〔2017〕No. 54, and the CBIRC rules on sales-behaviour
traceability that followed) asks insurers to keep the recordings of a sale
for 5 years after the end of the contract when the insurance period is one
year or less, and for 10 years when it is longer.  While the end of the
contract is not known (a whole-life policy in force, a contract not yet
issued) the retention is open-ended: ``None`` means "keep".

A legal hold (a complaint, a litigation, an inquiry) keeps the recording at
least HOLD_YEARS after the hold is released; while a hold is active the
retention is open-ended too.
"""
import datetime as dt

YEARS = {
    'short': 5,   # insurance period of one year or less
    'long': 10,   # insurance period of more than one year
    }
HOLD_YEARS = 2


def add_years(day, years):
    "Return day moved by years; 29 February becomes 28 February."
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def retention_end(period_class, contract_end, holds=()):
    """Return the last day the recording must be kept, or None to keep it.

    period_class is 'short' or 'long' (as on the product); contract_end the
    date the contract ends (None when unknown); holds an iterable of
    (placed_on, released_on) dates, released_on None for an active hold.
    """
    if period_class not in YEARS:
        raise ValueError(f"unknown insurance period class {period_class!r}")
    end = None
    if contract_end is not None:
        end = add_years(contract_end, YEARS[period_class])
    for placed_on, released_on in holds:
        if released_on is None:
            return None
        end = max(end, add_years(released_on, HOLD_YEARS)) if end else None
    return end


def is_expired(end, today=None):
    "Tell whether a retention that ends on end is over on today."
    today = today or dt.date.today()
    return end is not None and end < today
