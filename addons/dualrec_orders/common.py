# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The states, directions and workflow fields shared by the order models."""
from decimal import Decimal

STATES = [
    ('draft', "Draft"),
    ('confirmed', "Confirmed"),
    ('invoiced', "Invoiced"),
    ('settled', "Settled"),
    ('cancelled', "Cancelled"),
    ]
WEEKDAYS = [
    (None, ''),
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]
DIRECTIONS = [
    ('receivable', "Receivable"),
    ('payable', "Payable"),
    ]
# Set by the transitions only.
WORKFLOW_FIELDS = {'state', 'state_since', 'confirmed_at', 'invoiced_at',
    'settled_at', 'cancelled_at', 'cancel_reason', 'confirm_days',
    'invoice_days', 'settle_days'}
# Computed by the system from the order and its lines.
COMPUTED_FIELDS = {'number', 'untaxed_amount', 'tax_amount', 'total_amount',
    'fingerprint'}
DAY = Decimal(86400)
# (from, to): every other move is refused.
TRANSITIONS = {
    ('draft', 'confirmed'),
    ('draft', 'cancelled'),
    ('confirmed', 'cancelled'),
    ('confirmed', 'invoiced'),
    ('invoiced', 'settled'),
    # finance takes back: a red-letter fapiao or a voided fapiao reopens
    # the orders of its invoice, a failed payment unsettles them
    ('invoiced', 'confirmed'),
    ('settled', 'invoiced'),
    }
