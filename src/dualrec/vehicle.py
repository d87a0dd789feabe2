# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Vehicles for channel promotion, without the database: VINs with their
check digit, the due dates that drive a push and their windows, the
matching of a push rule, and the honest conversion rates.

Chinese VINs (GB 16735) carry the ISO 3779 check digit in position 9: the
17 symbols (no I, O or Q) transliterated to numbers, weighted 8 7 6 5 4 3 2
10 0 9 8 7 6 5 4 3 2, summed modulo 11, 10 written X.
"""
import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

from .cn import normalize_plate
from .errors import CodedError

__all__ = ['VehicleError', 'normalize_vin', 'vin_check_digit', 'check_vin',
    'check_plate', 'DUE_KINDS', 'next_due', 'in_window', 'window_of',
    'vehicle_age', 'division_prefix', 'region_matches', 'rule_matches',
    'Funnel', 'rate']

_VIN = re.compile('^[A-HJ-NPR-Z0-9]{17}$')
_VALUES = {**{str(d): d for d in range(10)},
    **dict(zip('ABCDEFGH', range(1, 9))),
    **dict(zip('JKLMN', range(1, 6))), 'P': 7, 'R': 9,
    **dict(zip('STUVWXYZ', range(2, 10)))}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

# the due dates a push rule may be driven by
DUE_KINDS = ('compulsory', 'commercial', 'inspection', 'maintenance')


class VehicleError(CodedError):
    "A refused vehicle value, with its code for the API."


def normalize_vin(value):
    """Return the VIN value upper case, half-width and without spaces, or
    None if it is empty."""
    if not value:
        return None
    text = unicodedata.normalize('NFKC', str(value)).upper()
    return re.sub(r'[\s\-]', '', text) or None


def vin_check_digit(vin):
    "Return the ISO 3779 check digit ('0'–'9' or 'X') of the 17-symbol vin."
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS))
    remainder = total % 11
    return 'X' if remainder == 10 else str(remainder)


def check_vin(value):
    """Return the canonical VIN of value; raise VehicleError bad_vin (not
    17 symbols of the VIN alphabet) or bad_vin_check (its position 9 is not
    its check digit)."""
    vin = normalize_vin(value)
    if not vin or not _VIN.match(vin):
        raise VehicleError('bad_vin',
            f"{value!r} is not a VIN: 17 digits and capital letters "
            "without I, O and Q.", {'value': value})
    if vin[8] != vin_check_digit(vin):
        raise VehicleError('bad_vin_check',
            f"The check digit of VIN {vin} (position 9) is wrong: a symbol "
            "was mistyped.", {'value': vin})
    return vin


def check_plate(value):
    """Return the canonical plate of value (a province, a letter and 5
    symbols, 6 for a new-energy plate); raise VehicleError bad_plate."""
    plate = normalize_plate(value)
    if not plate:
        raise VehicleError('bad_plate',
            f"{value!r} is not a plate number: a province, a letter and 5 "
            "symbols (6 for a new-energy vehicle).", {'value': value})
    return plate


def new_energy(plate):
    "Whether plate is a new-energy plate (8 symbols: 6 after the letter)."
    return bool(plate) and len(plate) == 8


def next_due(due, day, years=1):
    """Return the first anniversary of the due date due that is on or after
    day (insurance and inspections repeat yearly); None without due.  A
    29 February falls on the 28th in other years."""
    if due is None:
        return None
    year = max(due.year, day.year - 1)
    while True:
        candidate = _anniversary(due, year)
        if candidate >= day and candidate >= due:
            return candidate
        year += years


def _anniversary(due, year):
    try:
        return due.replace(year=year)
    except ValueError:
        return due.replace(year=year, day=28)


def window_of(due, start_days, end_days):
    """Return the (first, last) days of the window of due: from start_days
    to end_days before it (e.g. 90 and 30)."""
    return (due - dt.timedelta(days=start_days),
        due - dt.timedelta(days=end_days))


def in_window(due, day, start_days, end_days):
    "Whether day falls in the window of the due date due."
    if due is None:
        return False
    first, last = window_of(due, start_days, end_days)
    return first <= day <= last


def vehicle_age(registered, day):
    "Return the full years from the registration date to day (None: none)."
    if registered is None:
        return None
    years = day.year - registered.year
    if (day.month, day.day) < (registered.month, registered.day):
        years -= 1
    return max(years, 0)


def region_matches(region, prefixes):
    """Whether the administrative division code region (6 digits) is in one
    of prefixes (a province '44', a city '4403' or a county code; none: all
    regions)."""
    if not prefixes:
        return True
    region = str(region or '')
    return any(region.startswith(division_prefix(p)) for p in prefixes)


def division_prefix(code):
    """Return the prefix of the division code code that its sub-divisions
    share: '440000' → '44' (province), '440300' → '4403' (city), a county
    code whole."""
    code = str(code).strip()
    if len(code) == 6 and code.endswith('0000'):
        return code[:2]
    if len(code) == 6 and code.endswith('00'):
        return code[:4]
    return code


def rule_matches(rule, vehicle, day):
    """Return the due date for which the push rule rule takes vehicle on
    day, or None.

    rule: a mapping with 'due_kind' (of DUE_KINDS), 'start_days' and
    'end_days' (the window before the due date), 'regions' (division code
    prefixes, empty: all), 'usages' (empty: all), 'min_age' and 'max_age'
    (years, None: no bound) and 'new_energy' (None: both).
    vehicle: a mapping with 'consent' (no consent, no push), 'region',
    'usage', 'registered', 'plate' and the due dates by kind."""
    if not vehicle.get('consent'):
        return None
    if not region_matches(vehicle.get('region'), rule.get('regions')):
        return None
    if rule.get('usages') and vehicle.get('usage') not in rule['usages']:
        return None
    age = vehicle_age(vehicle.get('registered'), day)
    if rule.get('min_age') is not None and (
            age is None or age < rule['min_age']):
        return None
    if rule.get('max_age') is not None and (
            age is None or age > rule['max_age']):
        return None
    if rule.get('new_energy') is not None and (
            new_energy(vehicle.get('plate')) != rule['new_energy']):
        return None
    due = next_due(vehicle.get(rule['due_kind']), day)
    if in_window(due, day, rule['start_days'], rule['end_days']):
        return due
    return None


def rate(part, whole):
    "Return part / whole as a percentage rounded to 0.01, None if whole is 0."
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(
        Decimal('0.01'), rounding=ROUND_HALF_UP)


class Funnel:
    """The counts of a conversion funnel and its honest rates: the
    denominator of every rate is every proposal pushed (whatever became of
    it) plus the unconverted records imported from the insurers' accounts,
    never only the ones that went on."""
    STATES = ('pushed', 'received', 'quoted', 'won', 'lost', 'expired')

    def __init__(self, states=(), unconverted=0):
        "states: the current state of each proposal; unconverted: imported."
        self.counts = dict.fromkeys(self.STATES, 0)
        for state in states:
            self.counts[state] += 1
        self.unconverted = unconverted

    @property
    def total(self):
        "Every proposal, in any state, and the imported unconverted ones."
        return sum(self.counts.values()) + self.unconverted

    @property
    def reached(self):
        """The proposals that reached each step (a won one was received and
        quoted; a lost or expired one got as far as its trace says, counted
        here as not quoted)."""
        c = self.counts
        won = c['won']
        quoted = c['quoted'] + won
        received = c['received'] + quoted
        return {'received': received, 'quoted': quoted, 'won': won}

    def rates(self):
        "Return the rates in percent: received, quoted and won of the total."
        reached = self.reached
        return {name: rate(reached[name], self.total)
            for name in ('received', 'quoted', 'won')}
