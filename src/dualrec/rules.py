# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Regulatory rules that need no database.

The recording obligation follows CIRC 〔2017〕No. 54 (保险销售行为可回溯管理暂行
办法), Article 6:

1. personal insurance (人身保险: life, health, accident, investment-linked)
   with an insurance period over one year sold through a bank or another
   part-time agent (兼业代理) must be recorded for every applicant;
2. the same products sold through any other channel must be recorded when
   the applicant is 60 years old or more;
3. investment-linked products must be recorded whatever the channel, period
   or applicant.
"""

PERSONAL_CATEGORIES = frozenset(
    {'life', 'health', 'accident', 'investment_linked'})
ALWAYS_CATEGORIES = frozenset({'investment_linked'})
PART_TIME_CHANNELS = frozenset({'bank'})
ELDERLY_AGE = 60

ALWAYS = 'always'
ELDERLY = 'elderly'
OPTIONAL = 'optional'


def recording_obligation(category, period_class, channel):
    """Return when a product must be recorded under No. 54 Art. 6.

    ``category`` is the product type category, ``period_class`` is 'short'
    (one year or less) or 'long' (over one year) and ``channel`` the sales
    channel code.  The answer is ALWAYS (every sale), ELDERLY (sales to
    applicants aged ELDERLY_AGE or more) or OPTIONAL.
    """
    if category in ALWAYS_CATEGORIES:
        return ALWAYS
    if category in PERSONAL_CATEGORIES and period_class == 'long':
        if channel in PART_TIME_CHANNELS:
            return ALWAYS
        return ELDERLY
    return OPTIONAL


def recording_mandatory(category, period_class, channel, applicant_age=None):
    """Tell whether one sale must be recorded.

    ``applicant_age`` is in whole years; None means unknown, which counts as
    under ELDERLY_AGE (the ticket asks for the age before recording).
    """
    obligation = recording_obligation(category, period_class, channel)
    if obligation == ALWAYS:
        return True
    if obligation == ELDERLY:
        return applicant_age is not None and applicant_age >= ELDERLY_AGE
    return False
