# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Signed checkpoints of the audit hash chain, and the offline check.

A checkpoint states "the chain had ``count`` entries and its head (the digest
of entry number ``count``) was ``head`` at ``time``", signed with Ed25519 by
the institution.  Whoever rewrites the database and recomputes every digest
gets a chain that verifies on its own, but no longer matches a checkpoint
kept from before: its signature cannot be made without the private key.

An export is the JSON::

    {"entries": [{"seq": 1, "previous_hash": …, "hash": …,
                  "fields": {…}}, …],
     "checkpoints": [{"count": …, "head": …, "time": …, "key_id": …,
                      "signature": …}, …],
     "public_key": "-----BEGIN PUBLIC KEY-----…"}

``check_export`` recomputes the chain from the first entry and compares it
with every checkpoint (those of the export and any kept from before); run
``python -m dualrec.crypto.checkpoint EXPORT --key public.pem [--checkpoint
kept.json …]``: it prints a JSON report and exits 1 when anything fails.
No trytond import: it can be handed out with the export.
"""
import argparse
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PublicKey)

from dualrec import audit as hashchain
from dualrec.errors import CodedError
from .evidence import _fingerprint_hex, _public_key, public_key_pem

DOMAIN = b'dualrec-audit-checkpoint/1\n'


class CheckpointError(CodedError):
    """A checkpoint that cannot be read or whose signature fails; codes:
    checkpoint_format, checkpoint_key, checkpoint_signature."""


def key_id(key):
    "Return the id of an Ed25519 key: the hex SHA-256 of its raw public key."
    return _fingerprint_hex(key)


def payload(count, head, time):
    """Return the signed bytes of a checkpoint: a domain line and the
    canonical JSON of count (int), head (hex digest) and time (ISO 8601
    text, UTC)."""
    return DOMAIN + hashchain.canonical(
        {'count': count, 'head': head, 'time': time})


def sign(private_key, count, head, time):
    "Return the checkpoint of count and head at time (ISO text), signed."
    signature = private_key.sign(payload(count, head, time))
    return {'count': count, 'head': head, 'time': time,
        'key_id': key_id(private_key),
        'signature': base64.b64encode(signature).decode('ascii')}


def check(checkpoint, public_key):
    """Raise CheckpointError unless checkpoint is signed by public_key (an
    Ed25519 public or private key object)."""
    try:
        count, head, time = (checkpoint['count'], checkpoint['head'],
            checkpoint['time'])
        signature = base64.b64decode(checkpoint['signature'], validate=True)
    except (KeyError, TypeError, ValueError):
        raise CheckpointError('checkpoint_format',
            "The checkpoint is not readable.") from None
    if not isinstance(count, int) or not isinstance(head, str):
        raise CheckpointError('checkpoint_format',
            "The checkpoint is not readable.")
    if checkpoint.get('key_id') not in {None, key_id(public_key)}:
        raise CheckpointError('checkpoint_key',
            "The checkpoint was signed with another key.",
            {'key_id': checkpoint.get('key_id')})
    try:
        _public_key(public_key).verify(signature, payload(count, head, time))
    except InvalidSignature:
        raise CheckpointError('checkpoint_signature',
            "The signature of the checkpoint does not verify.",
            {'count': count}) from None


def check_chain(entries, checkpoints, public_key):
    """Check a chain against signed checkpoints; return a report.

    entries is an iterable, in chain order, of (key, previous_digest,
    entry_digest, fields) as ``dualrec.audit.first_broken`` takes; it is
    consumed once.  checkpoints is a list of checkpoint dicts.  The report
    is a dict: ``count`` (entries read), ``head``, ``broken`` (the key of
    the first entry that breaks the chain, or, when the chain holds but
    disagrees with a checkpoint, of the first entry after the last
    checkpoint that matched), ``bad_checkpoints`` (list of {count, code})
    and ``checkpoints_checked``; ``intact`` is True when nothing failed.
    """
    bad, wanted = [], {}
    for checkpoint in checkpoints:
        try:
            check(checkpoint, public_key)
        except CheckpointError as error:
            bad.append({'count': checkpoint.get('count'),
                    'code': error.code})
            continue
        wanted.setdefault(checkpoint['count'], set()).add(checkpoint['head'])
    count, previous, broken, matched, first_after = (
        0, hashchain.GENESIS, None, 0, None)
    for key, entry_previous, entry_digest, fields in entries:
        count += 1
        if first_after is None:
            first_after = key
        if broken is None and (entry_previous != previous
                or hashchain.safe_digest(previous, fields) != entry_digest):
            broken = key
        previous = entry_digest
        heads = wanted.pop(count, None)
        if heads is None:
            continue
        if heads != {entry_digest}:
            bad.append({'count': count, 'code': 'checkpoint_mismatch'})
            if broken is None:
                broken = first_after
        else:
            matched, first_after = count, None
    for missing in sorted(wanted):
        # a checkpoint beyond the end: entries were removed
        bad.append({'count': missing, 'code': 'checkpoint_beyond_end'})
        if broken is None:
            broken = first_after if first_after is not None else 'end'
    return {'count': count, 'head': previous, 'broken': broken,
        'matched': matched, 'bad_checkpoints': bad,
        'checkpoints_checked': len(checkpoints),
        'intact': broken is None and not bad}


def check_export(export, public_key, kept=()):
    """Check an export (the dict of the module's docstring) against its own
    checkpoints and the kept ones; return the report of check_chain."""
    entries = ((e['seq'], e['previous_hash'], e['hash'], e['fields'])
        for e in export.get('entries', []))
    return check_chain(entries, [*export.get('checkpoints', []), *kept],
        public_key)


def load_public_key(data):
    "Return the Ed25519 public key of PEM data (bytes or text)."
    if isinstance(data, str):
        data = data.encode('ascii')
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError('checkpoint_key',
            "The key must be an Ed25519 public key in PEM.")
    return key


def public_pem(key):
    "Return the PEM text of the public half of an Ed25519 key."
    return public_key_pem(key).decode('ascii')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m dualrec.crypto.checkpoint',
        description="Check an audit log export against signed checkpoints.")
    parser.add_argument('export', help="the JSON export of the audit log")
    parser.add_argument('--key', required=True,
        help="the institution's public key (PEM) the checkpoints must be "
        "signed with; never take it from the export itself")
    parser.add_argument('--checkpoint', action='append', default=[],
        help="a JSON file of a checkpoint (or a list of them) kept from "
        "before, e.g. from an earlier export")
    args = parser.parse_args(argv)
    with open(args.key, 'rb') as file:
        public_key = load_public_key(file.read())
    with open(args.export, encoding='utf-8') as file:
        export = json.load(file)
    kept = []
    for path in args.checkpoint:
        with open(path, encoding='utf-8') as file:
            value = json.load(file)
        if isinstance(value, dict) and 'checkpoints' in value:
            value = value['checkpoints']
        kept.extend(value if isinstance(value, list) else [value])
    report = check_export(export, public_key, kept)
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write('\n')
    return 0 if report['intact'] else 1


if __name__ == '__main__':
    sys.exit(main())
