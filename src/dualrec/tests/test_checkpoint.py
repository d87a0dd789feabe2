# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stdout

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey)

from dualrec.audit import GENESIS, digest
from dualrec.crypto import checkpoint as cp

TIME = '2026-12-02T08:00:00'


def chain(rows):
    entries, previous = [], GENESIS
    for seq, fields in enumerate(rows, 1):
        entry = digest(previous, fields)
        entries.append({'seq': seq, 'previous_hash': previous,
                'hash': entry, 'fields': fields})
        previous = entry
    return entries


def rehash(entries, start, change):
    "Forge entry start (0-based) and recompute every digest from it on."
    entries = [dict(e) for e in entries]
    entries[start]['fields'] = {**entries[start]['fields'], **change}
    previous = entries[start]['previous_hash']
    for entry in entries[start:]:
        entry['previous_hash'] = previous
        entry['hash'] = previous = digest(previous, entry['fields'])
    return entries


class CheckpointTestCase(unittest.TestCase):
    "Test the signed checkpoints of the audit chain"

    def setUp(self):
        self.key = Ed25519PrivateKey.generate()
        self.rows = [{'action': 'login', 'user': i} for i in range(6)]
        self.entries = chain(self.rows)
        self.checkpoints = [
            cp.sign(self.key, 3, self.entries[2]['hash'], TIME),
            cp.sign(self.key, 6, self.entries[5]['hash'], TIME)]

    def export(self, entries=None, checkpoints=None):
        return {'entries': self.entries if entries is None else entries,
            'checkpoints': (self.checkpoints if checkpoints is None
                else checkpoints)}

    def test_signature_verifies(self):
        "A checkpoint verifies with the public key"
        cp.check(self.checkpoints[0], self.key.public_key())

    def test_signature_of_changed_head_fails(self):
        "A checkpoint whose head or count was changed is refused"
        for change in [{'head': GENESIS}, {'count': 4}]:
            with self.subTest(change=change):
                with self.assertRaises(cp.CheckpointError) as error:
                    cp.check({**self.checkpoints[0], **change},
                        self.key.public_key())
                self.assertEqual(error.exception.code,
                    'checkpoint_signature')

    def test_other_key_refused(self):
        "A checkpoint signed with another key is refused"
        other = Ed25519PrivateKey.generate()
        with self.assertRaises(cp.CheckpointError) as error:
            cp.check(cp.sign(other, 3, self.entries[2]['hash'], TIME),
                self.key.public_key())
        self.assertEqual(error.exception.code, 'checkpoint_key')

    def test_intact_export(self):
        "An untouched export verifies against its checkpoints"
        report = cp.check_export(self.export(), self.key.public_key())
        self.assertTrue(report['intact'])
        self.assertEqual((report['count'], report['matched']), (6, 6))
        self.assertIsNone(report['broken'])

    def test_tampered_entry_named(self):
        "A changed entry is named as the first broken one"
        entries = [dict(e) for e in self.entries]
        entries[3]['fields'] = {'action': 'logout', 'user': 3}
        report = cp.check_export(self.export(entries), self.key.public_key())
        self.assertEqual(report['broken'], 4)
        self.assertFalse(report['intact'])

    def test_recomputed_chain_caught(self):
        "A forged entry with every digest recomputed fails the checkpoint"
        forged = rehash(self.entries, 3, {'user': 99})
        # the forged chain holds on its own ...
        alone = cp.check_export(self.export(forged, []),
            self.key.public_key())
        self.assertTrue(alone['intact'])
        # ... but not against the checkpoint signed before
        report = cp.check_export(self.export(forged), self.key.public_key())
        self.assertFalse(report['intact'])
        self.assertEqual(report['bad_checkpoints'],
            [{'count': 6, 'code': 'checkpoint_mismatch'}])
        # after the last checkpoint that still matches
        self.assertEqual(report['broken'], 4)

    def test_forged_checkpoint_refused(self):
        "Replacing the checkpoints needs the private key"
        forged = rehash(self.entries, 3, {'user': 99})
        intruder = Ed25519PrivateKey.generate()
        checkpoints = [cp.sign(intruder, 6, forged[5]['hash'], TIME)]
        report = cp.check_export(self.export(forged, checkpoints),
            self.key.public_key(), kept=self.checkpoints[1:])
        self.assertFalse(report['intact'])
        self.assertIn({'count': 6, 'code': 'checkpoint_key'},
            report['bad_checkpoints'])
        self.assertIn({'count': 6, 'code': 'checkpoint_mismatch'},
            report['bad_checkpoints'])

    def test_truncated_chain_caught(self):
        "Removing the last entries is caught by a kept checkpoint"
        report = cp.check_export(self.export(self.entries[:4], []),
            self.key.public_key(), kept=self.checkpoints)
        self.assertFalse(report['intact'])
        self.assertEqual(report['bad_checkpoints'],
            [{'count': 6, 'code': 'checkpoint_beyond_end'}])

    def test_malformed_entry_reported(self):
        "An entry that cannot be hashed is reported, not raised"
        entries = [dict(e) for e in self.entries]
        entries[1]['fields'] = {'date': object()}
        entries[2]['previous_hash'] = None
        report = cp.check_export(self.export(entries, []),
            self.key.public_key())
        self.assertEqual(report['broken'], 2)

    def test_cli(self):
        "The command line checks an export offline and exits 1 on failure"
        with tempfile.TemporaryDirectory() as directory:
            key = os.path.join(directory, 'public.pem')
            with open(key, 'w') as file:
                file.write(cp.public_pem(self.key))
            good = os.path.join(directory, 'good.json')
            with open(good, 'w') as file:
                json.dump(self.export(), file)
            bad = os.path.join(directory, 'bad.json')
            with open(bad, 'w') as file:
                json.dump(self.export(rehash(self.entries, 1, {'user': 7}),
                        []), file)
            kept = os.path.join(directory, 'kept.json')
            with open(kept, 'w') as file:
                json.dump(self.checkpoints[1], file)
            out = io.StringIO()
            with redirect_stdout(out):
                self.assertEqual(cp.main([good, '--key', key]), 0)
                self.assertEqual(cp.main([bad, '--key', key]), 0)
                self.assertEqual(
                    cp.main([bad, '--key', key, '--checkpoint', kept]), 1)
