# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The hash chain that makes the audit log tamper-evident.

Each entry stores the digest of the previous entry and its own digest,
computed over the previous digest and a canonical JSON of its fields.
Changing, deleting or inserting an entry breaks the chain from that entry on,
and ``first_broken`` finds where.
"""
import hashlib
import json

GENESIS = '0' * 64


def canonical(fields):
    """Return the canonical bytes of fields: JSON with sorted keys, no
    whitespace, non-ASCII kept as UTF-8.  Values must be JSON types or
    strings (dates are formatted by the caller)."""
    return json.dumps(fields, sort_keys=True, separators=(',', ':'),
        ensure_ascii=False).encode('utf-8')


def digest(previous, fields):
    "Return the hex SHA-256 digest of an entry chained to previous."
    return hashlib.sha256(
        previous.encode('ascii') + b'\n' + canonical(fields)).hexdigest()


def first_broken(entries, previous=GENESIS):
    """Return the key of the first entry that breaks the chain, or None.

    entries is an iterable, in chain order, of (key, previous_digest,
    entry_digest, fields); it is consumed once, so a database cursor can be
    streamed.  previous is the digest the first entry must follow.
    """
    for key, entry_previous, entry_digest, fields in entries:
        if entry_previous != previous:
            return key
        if safe_digest(previous, fields) != entry_digest:
            return key
        previous = entry_digest
    return None


def safe_digest(previous, fields):
    """Return digest(previous, fields), or None when the entry cannot be
    hashed (a malformed row: a previous digest that is no ASCII text, or
    fields that are no JSON): such an entry never matches, so it is
    reported as broken instead of stopping the walk."""
    try:
        return digest(previous, fields)
    except (AttributeError, TypeError, ValueError, UnicodeError):
        return None
