# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import unittest

from dualrec.audit import (
    GENESIS, canonical, digest, first_broken)


def build(rows):
    entries, previous = [], GENESIS
    for key, fields in enumerate(rows, 1):
        entry = digest(previous, fields)
        entries.append((key, previous, entry, fields))
        previous = entry
    return entries


class HashChainTestCase(unittest.TestCase):
    "Test the audit hash chain"

    rows = [
        {'action': 'login', 'user': 1, 'ip': '10.0.0.1'},
        {'action': 'write', 'model': 'dualrec.branch', 'fields': 'name'},
        {'action': 'unmask', 'record': 7, 'name': '张三'},
        ]

    def test_canonical_is_order_free(self):
        "The canonical form does not depend on the order of the keys"
        self.assertEqual(canonical({'b': 1, 'a': '中'}),
            canonical({'a': '中', 'b': 1}))
        self.assertEqual(canonical({'a': '中'}), '{"a":"中"}'.encode())

    def test_intact_chain(self):
        "An untouched chain verifies"
        self.assertIsNone(first_broken(build(self.rows)))
        self.assertIsNone(first_broken([]))

    def test_tampered_fields(self):
        "Changing an entry's fields is found at that entry"
        entries = build(self.rows)
        key, previous, entry, fields = entries[1]
        entries[1] = (key, previous, entry, {**fields, 'fields': 'code'})
        self.assertEqual(first_broken(entries), 2)

    def test_rehashed_entry(self):
        "Recomputing a changed entry's digest breaks the next link"
        entries = build(self.rows)
        key, previous, _, fields = entries[1]
        fields = {**fields, 'fields': 'code'}
        entries[1] = (key, previous, digest(previous, fields), fields)
        self.assertEqual(first_broken(entries), 3)

    def test_deleted_entry(self):
        "Deleting an entry is found at the entry that followed it"
        entries = build(self.rows)
        del entries[0]
        self.assertEqual(first_broken(entries), 2)

    def test_reordered_entries(self):
        "Swapping two entries is found"
        entries = build(self.rows)
        entries[1], entries[2] = entries[2], entries[1]
        self.assertEqual(first_broken(entries), 3)

    def test_malformed_entry(self):
        "An entry that cannot be hashed is reported as broken, not raised"
        entries = build(self.rows)
        key, _, entry, fields = entries[1]
        entries[1] = (key, None, entry, fields)
        self.assertEqual(first_broken(entries), 2)
        entries = build(self.rows)
        key, previous, entry, _ = entries[2]
        entries[2] = (key, previous, entry, {'date': object()})
        self.assertEqual(first_broken(entries), 3)
