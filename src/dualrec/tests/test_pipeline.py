# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import os
import stat
import tempfile
import time
import unittest
from pathlib import Path

from dualrec.crypto import envelope
from dualrec.media import pipeline

KEYRING = envelope.Keyring({'kpipe': bytes(range(32))})


class WorkDirectoryTestCase(unittest.TestCase):
    "Test the private work directories of the media pipeline"

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.root = Path(directory.name)

    def test_private(self):
        "A work directory is owner-only, under root/work/name"
        work = pipeline.private_workdir(self.root, '42')
        self.assertEqual(work, self.root / 'work' / '42')
        for path in [work, work.parent]:
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o700)

    def test_leftovers_removed_at_next_run(self):
        "What a killed run of the same name left is removed first"
        work = pipeline.private_workdir(self.root, '42')
        (work / 'source').write_bytes(b'plaintext')
        other = pipeline.private_workdir(self.root, '43')
        (other / 'source').write_bytes(b'plaintext')
        again = pipeline.private_workdir(self.root, '42')
        self.assertEqual(list(again.iterdir()), [])
        self.assertTrue((other / 'source').exists())

    def test_bad_names(self):
        "A name cannot leave the work directory"
        for name in ['', '../x', 'a/b', '.hidden']:
            with self.subTest(name=name):
                with self.assertRaises(ValueError):
                    pipeline.private_workdir(self.root, name)

    def test_clean(self):
        "clean_workdirs removes the old leftovers, also of the old place"
        old = pipeline.private_workdir(self.root, '1')
        (old / 'source').write_bytes(b'x')
        legacy = self.root / '.work' / 'pipeline-abc'
        legacy.mkdir(parents=True)
        (legacy / 'source').write_bytes(b'x')
        past = time.time() - 3600
        for path in [old, legacy]:
            os.utime(path, (past, past))
        new = pipeline.private_workdir(self.root, '2')
        self.assertEqual(pipeline.clean_workdirs(self.root, 600), 2)
        self.assertEqual(list((self.root / 'work').iterdir()), [new])
        self.assertEqual(list((self.root / '.work').iterdir()), [])
        self.assertEqual(pipeline.clean_workdirs(self.root), 1)
        self.assertEqual(list((self.root / 'work').iterdir()), [])


class SealTestCase(unittest.TestCase):
    "Test the seal step of the pipeline"

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.root = Path(directory.name)

    def test_sealed_upload_taken_as_is(self):
        "An original sealed by the upload store is not touched"
        sealed = 'recordings/1/2/original.mp4' + pipeline.SEALED_SUFFIX
        path = self.root / sealed
        path.parent.mkdir(parents=True)
        path.write_bytes(b'sealed')
        self.assertEqual(pipeline.seal_original(self.root, sealed, KEYRING),
            sealed)
        self.assertEqual(path.read_bytes(), b'sealed')

    def test_plaintext_original_sealed(self):
        "An original stored in plaintext before is sealed, then removed"
        plain = self.root / 'recordings' / 'original.mp4'
        plain.parent.mkdir(parents=True)
        plain.write_bytes(b'old plaintext upload')
        sealed = pipeline.seal_original(
            self.root, 'recordings/original.mp4', KEYRING)
        self.assertFalse(plain.exists())
        with envelope.open_decrypted(KEYRING, self.root / sealed) as reader:
            self.assertEqual(reader.read(), b'old plaintext upload')
