# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A recording from upload to playback, through the worker, on a live
server: the media pipeline as the recorder and the reviewer meet it."""
import hashlib
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import requests

from dualrec import testing

from .server import PASSWORD, ROOT, LiveServer, sql

LIMIT = 5_000_000
MIB = 1024 * 1024
WINDOW = 4096


def plaintext_files(directory, data, window=WINDOW):
    "Return the files under directory holding a window of data's bytes"
    pieces = {data[i:i + window]
        for i in range(0, len(data) - window + 1, window)}
    found = []
    for path in Path(directory).rglob('*'):
        if path.is_file():
            content = path.read_bytes()
            # a window anywhere in the file, aligned or not
            if any(content.find(piece) >= 0 for piece in pieces):
                found.append(path)
    return found


class MediaPipelineTestCase(unittest.TestCase):
    "Test the media pipeline end to end"

    @classmethod
    def setUpClass(cls):
        cls.server = LiveServer(worker=True).start()
        cls.addClassCleanup(cls.server.stop)
        cls.base = (f'{cls.server.url}/{cls.server.database}'
            '/dualrec/api/v1')
        cls.tokens = {login: requests.post(cls.base + '/login',
                json={'login': login, 'password': PASSWORD},
                timeout=30).json()['token']
            for login in ['sales', 'sales2', 'reviewer', 'manager']}
        products = cls.call('GET', '/products', 'sales').json()
        cls.product = next(p for p in products if p['code'] == 'LIFE-001')
        directory = tempfile.TemporaryDirectory()
        cls.addClassCleanup(directory.cleanup)
        cls.webm = Path(directory.name) / 'recording.webm'
        testing.generate_sample(str(cls.webm), 4, width=640, height=360, fps=15,
            codec='vp8')
        # over 2 MiB: an upload in three parts
        cls.long_webm = Path(directory.name) / 'long.webm'
        testing.generate_sample(str(cls.long_webm), 20, width=640,
            height=360, fps=15, codec='vp8')

    @classmethod
    def call(cls, method, path, login, **kwargs):
        headers = kwargs.pop('headers', {})
        headers['Authorization'] = f'Bearer {cls.tokens[login]}'
        headers.setdefault('Accept-Language', 'zh-CN')
        return requests.request(method, cls.base + path, headers=headers,
            timeout=60, **kwargs)

    def upload(self, data, content_type='video/webm', after_part=None,
            chunk_size=None):
        """Create a ticket and upload data for it, in parts of chunk_size
        from the last (after_part called after each); return the
        recording."""
        ticket = self.call('POST', '/tickets', 'sales', json={
                'task_number': 'T-MEDIA', 'product': self.product['id'],
                'policyholder_name': "李四", 'id_type': 'resident_id',
                'id_number': '11010519491231002X', 'phone': '13812345678',
                }).json()
        upload = self.call('POST', '/uploads', 'sales', json={
                'ticket': ticket['id'], 'size': len(data),
                'sha256': hashlib.sha256(data).hexdigest(),
                'content_type': content_type, 'timeline': [],
                }).json()
        chunk_size = chunk_size or upload['chunk_size']
        for offset in reversed(range(0, len(data), chunk_size)):
            response = self.call('PUT',
                f"/uploads/{upload['id']}?offset={offset}", 'sales',
                data=data[offset:offset + chunk_size],
                headers={'Content-Type': 'application/octet-stream'})
            self.assertEqual(response.status_code, 200, response.text)
            if after_part:
                after_part()
        response = self.call('POST', f"/uploads/{upload['id']}/complete",
            'sales')
        # the call answers at once: the worker checks and does the work
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()['state'], 'verifying')
        recording = response.json()['recording']
        self.assertEqual(recording['status'], 'verifying')
        return recording

    def wait(self, recording, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.call('GET', f"/recordings/{recording['id']}",
                'sales').json()
            if data['status'] in {'ready', 'failed'}:
                return data
            time.sleep(0.5)
        log = [line for line in self.server.log_tail(200000).splitlines()
            if 'werkzeug' not in line and ' trytond.modules ' not in line]
        self.fail(f"recording still {data['status']}:\n"
            + '\n'.join(log[-60:]))

    def stored(self, recording_id, column):
        path, = sql(self.server,
            f'SELECT {column} FROM dualrec_recording WHERE id = ?',
            (recording_id,))[0]
        root = self.server.directory / 'db' / self.server.database
        return root / 'dualrec' / path if path else None

    def test_upload_process_play(self):
        "A WebM upload becomes an encrypted MP4 ≤ 5 MB, played with ranges"
        recording = self.wait(self.upload(self.webm.read_bytes()))
        self.assertEqual(recording['status'], 'ready', recording['error'])
        self.assertLessEqual(recording['compressed_size'], LIMIT)
        self.assertEqual(recording['video_codec'], 'h264')
        self.assertEqual(recording['audio_codec'], 'aac')
        self.assertAlmostEqual(recording['duration'], 4, delta=1)
        self.assertEqual(recording['key_id'], 'ktest')

        # no plaintext stays: the stored file is an envelope, the original
        # (not kept by default) is gone
        stored = self.stored(recording['id'], 'compressed_path')
        self.assertEqual(stored.read_bytes()[:8], b'\x89DRE\r\n\x1a\n')
        self.assertIsNone(self.stored(recording['id'], 'original_path'))

        path = f"/recordings/{recording['id']}/media"
        # the whole file in one answer is for the export right
        full = self.call('GET', path, 'manager')
        self.assertEqual(full.status_code, 200, full.text)
        self.assertEqual(full.headers['Content-Type'], 'video/mp4')
        self.assertEqual(hashlib.sha256(full.content).hexdigest(),
            recording['compressed_sha256'])
        plain = self.call('GET', path, 'sales')
        self.assertEqual(plain.status_code, 403)
        self.assertEqual(plain.json()['code'], 'range_required')
        # the salesperson's player streams ranges
        part = self.call('GET', path, 'sales',
            headers={'Range': 'bytes=100-199'})
        self.assertEqual(part.status_code, 206)
        self.assertEqual(part.content, full.content[100:200])
        self.assertEqual(part.headers['Content-Range'],
            f'bytes 100-199/{len(full.content)}')
        start = self.call('GET', path, 'sales', headers={'Range': 'bytes=0-'})
        self.assertEqual(start.status_code, 206)
        self.assertEqual(start.content,
            full.content[:len(start.content)])
        self.assertLessEqual(len(start.content), MIB)

        # the reviewer of the city may play it; another outlet may not
        self.assertEqual(self.call('GET', path, 'reviewer',
                headers={'Range': 'bytes=0-99'}).status_code, 206)
        other = self.call('GET', path, 'sales2',
            headers={'Range': 'bytes=0-99'})
        self.assertEqual(other.status_code, 404)
        self.assertEqual(other.json()['code'], 'not_found')
        # downloading needs the export right
        denied = self.call('GET', path + '?download=1', 'reviewer',
            headers={'Range': 'bytes=0-'})
        self.assertEqual(denied.status_code, 403)
        self.assertEqual(self.call('GET', path + '?download=1',
                'manager').content, full.content)
        # a ready recording is not processed again
        again = self.call('POST', f"/recordings/{recording['id']}/retry",
            'sales')
        self.assertEqual(again.status_code, 409)
        self.assertEqual(again.json()['code'], 'not_retryable')

        plays = sql(self.server, "SELECT COUNT(*) FROM dualrec_audit_log "
            "WHERE action = 'playback' AND record_id = ? "
            "AND model = 'dualrec.recording'", (recording['id'],))[0][0]
        # the manager's full read, the ranges from 0 of the salesperson and
        # the reviewer; not the range from 100 nor the refused requests
        self.assertEqual(plays, 3)

    def test_tampered_file_refused(self):
        "A changed byte in the stored file: refused and flagged"
        recording = self.wait(self.upload(self.webm.read_bytes()))
        self.assertEqual(recording['status'], 'ready', recording['error'])
        stored = self.stored(recording['id'], 'compressed_path')
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0x01
        stored.write_bytes(bytes(data))

        # as the player asks (the reviewer has no export right)
        response = self.call('GET', f"/recordings/{recording['id']}/media",
            'reviewer', headers={'Range': 'bytes=0-'})
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()['code'], 'not_playable')
        recording = self.call('GET', f"/recordings/{recording['id']}",
            'sales').json()
        self.assertTrue(recording['tampered'])
        alerts = sql(self.server, "SELECT COUNT(*) FROM res_notification "
            "WHERE model = 'dualrec.recording'")[0][0]
        self.assertGreaterEqual(alerts, 1)

    def test_corrupt_upload_fails_clearly(self):
        "A file that only looks like a video fails with its reason"
        data = self.webm.read_bytes()
        recording = self.wait(self.upload(data[:4096]))
        self.assertEqual(recording['status'], 'failed')
        self.assertIn('truncated', recording['error'])
        # a retry (the recorder's button) queues it again: it fails again,
        # for the same reason; another salesperson may not ask
        path = f"/recordings/{recording['id']}/retry"
        self.assertEqual(self.call('POST', path, 'sales2').status_code, 404)
        response = self.call('POST', path, 'sales')
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()['status'], 'processing')
        recording = self.wait(recording)
        self.assertEqual(recording['status'], 'failed')
        self.assertIn('truncated', recording['error'])

    def test_worker_killed_mid_transcode(self):
        "A worker killed while transcoding: the job is taken again and ends"
        self.server.stop_worker()
        self.addCleanup(self._restart_worker)
        data = self.webm.read_bytes()
        recording = self.upload(data)
        work = (self.server.directory / 'db' / self.server.database
            / 'dualrec' / 'work')
        self.server.start_worker()
        deadline = time.monotonic() + 120
        while not (work.exists() and any(work.iterdir())):
            self.assertLess(time.monotonic(), deadline, "never started")
            time.sleep(0.05)
        self.server.stop_worker()   # SIGKILL, mid-pipeline
        status = self.call('GET', f"/recordings/{recording['id']}",
            'sales').json()['status']
        self.assertIn(status, {'verifying', 'processing'})

        # the scheduler finds the stalled job (here: at once) and the
        # restarted worker ends it
        self.server.run_python("Recording = pool.get('dualrec.recording')\n"
            "print(len(Recording.requeue_stalled(minutes=0)))")
        self.server.start_worker()
        recording = self.wait(recording)
        self.assertEqual(recording['status'], 'ready', recording['error'])
        self.assertLessEqual(recording['compressed_size'], LIMIT)
        # no plaintext left behind by the killed run
        self.assertEqual(list(work.iterdir()), [])

    def test_no_plaintext_at_rest(self):
        "No stored file holds the recording's bytes, but the work directory"
        self.server.stop_worker()
        self.addCleanup(self._restart_worker)
        data = self.long_webm.read_bytes()
        self.assertGreater(len(data), 2 * MIB)
        storage = (self.server.directory / 'db' / self.server.database
            / 'dualrec')

        def no_plaintext():
            self.assertEqual(plaintext_files(storage, data), [])

        recording = self.upload(data, after_part=no_plaintext,
            chunk_size=MIB)
        no_plaintext()

        # the worker verifies, then works on a decrypted copy in its
        # private directory: killed there, it leaves it behind
        work = storage / 'work' / str(recording['id'])
        self.server.start_worker()
        deadline = time.monotonic() + 120
        while not (work / 'source').exists():
            self.assertLess(time.monotonic(), deadline, "never started")
            time.sleep(0.02)
        # the source is decrypted whole before the worker goes on
        while not plaintext_files(work, data):
            self.assertLess(time.monotonic(), deadline, "never decrypted")
            time.sleep(0.02)
        self.server.stop_worker()   # SIGKILL, mid-pipeline
        self.assertEqual(plaintext_files(storage, data),
            plaintext_files(work, data))
        self.assertTrue(plaintext_files(work, data))

        # the scheduler finds the stalled job (here: at once) and removes
        # its work files
        self.server.run_python("Recording = pool.get('dualrec.recording')\n"
            "print(len(Recording.requeue_stalled(minutes=0)))")
        no_plaintext()
        # what a run killed just before left: the worker removes it when
        # it starts, and ends the job
        leftover = storage / 'work' / '999999'
        leftover.mkdir()
        (leftover / 'source').write_bytes(data)
        if self.server.backend == 'postgresql':
            # what the supervisor and docker-compose run before
            # trytond-worker
            release = subprocess.run([sys.executable, '-m',
                    'trytond.modules.dualrec_core.worker', '-c',
                    *self.server.config, '-d', self.server.database,
                    '--release'], env=self.server._env(), cwd=ROOT,
                capture_output=True, text=True)
            self.assertEqual(release.returncode, 0, release.stderr)
        self.server.start_worker()
        recording = self.wait(recording)
        self.assertEqual(recording['status'], 'ready', recording['error'])
        no_plaintext()
        self.assertEqual(list((storage / 'work').iterdir()), [])

    def test_corrupt_in_transit_fails_verification(self):
        "Parts that do not make the announced SHA-256 fail the check"
        data = self.webm.read_bytes()
        announced = bytearray(data)
        announced[-100] ^= 0x01
        ticket = self.call('POST', '/tickets', 'sales', json={
                'task_number': 'T-MEDIA', 'product': self.product['id'],
                'policyholder_name': "李四", 'id_type': 'resident_id',
                'id_number': '11010519491231002X'}).json()
        upload = self.call('POST', '/uploads', 'sales', json={
                'ticket': ticket['id'], 'size': len(data),
                'sha256': hashlib.sha256(announced).hexdigest(),
                'content_type': 'video/webm', 'timeline': []}).json()
        self.call('PUT', f"/uploads/{upload['id']}?offset=0", 'sales',
            data=data, headers={'Content-Type': 'application/octet-stream'})
        response = self.call('POST', f"/uploads/{upload['id']}/complete",
            'sales')
        self.assertEqual(response.status_code, 202, response.text)
        recording = self.wait(response.json()['recording'])
        self.assertEqual(recording['status'], 'failed')
        self.assertIn('checksum_mismatch', recording['error'])
        state = self.call('GET', f"/uploads/{upload['id']}", 'sales').json()
        self.assertEqual(state['state'], 'failed')
        uploads = (self.server.directory / 'db' / self.server.database
            / 'dualrec' / 'uploads')
        self.assertFalse((uploads / upload['id']).exists())
        # nothing to process again
        again = self.call('POST', f"/recordings/{recording['id']}/retry",
            'sales')
        self.assertEqual(again.json()['status'], 'failed')

    def _restart_worker(self):
        if not (self.server.worker_process
                and self.server.worker_process.poll() is None):
            self.server.start_worker()

    def test_evidence_package_verifies_offline(self):
        "The evidence package verifies without the database; a change fails"
        recording = self.wait(self.upload(self.webm.read_bytes()))
        self.assertEqual(recording['status'], 'ready', recording['error'])
        path = f"/recordings/{recording['id']}/evidence"
        self.assertEqual(self.call('GET', path, 'reviewer').status_code, 403)
        response = self.call('GET', path, 'manager')
        self.assertEqual(response.status_code, 200, response.text[:500])
        self.assertEqual(response.headers['Content-Type'], 'application/zip')

        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        package = Path(directory.name) / 'evidence.zip'
        package.write_bytes(response.content)
        # the institution's public key, as the server publishes it
        key = requests.get(self.base + '/evidence/public_key', timeout=30)
        self.assertEqual(key.status_code, 200, key.text)
        public_key = Path(directory.name) / 'institution.pem'
        public_key.write_bytes(key.content)
        verifier = [sys.executable,
            str(ROOT / 'src' / 'dualrec' / 'crypto' / 'evidence.py'),
            'verify']
        # no trytond configuration, no database
        env = {'PATH': '/usr/bin:/bin'}
        good = subprocess.run(verifier + [str(package), '--public-key',
                str(public_key)], env=env, capture_output=True, text=True)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        self.assertIn(recording['compressed_sha256'], good.stdout.lower())
        self.assertIn(key.headers['X-Dualrec-Key-Fingerprint'], good.stdout)
        # without the key: integrity only, not a plain success
        unchecked = subprocess.run(verifier + [str(package)], env=env,
            capture_output=True, text=True)
        self.assertEqual(unchecked.returncode, 3,
            unchecked.stdout + unchecked.stderr)
        self.assertIn('integrity only', unchecked.stdout)

        data = bytearray(response.content)
        mp4 = data.find(b'ftyp')
        data[mp4 + 2000] ^= 0x01
        package.write_bytes(bytes(data))
        bad = subprocess.run(verifier + [str(package), '--public-key',
                str(public_key)], env=env, capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)

        exports = sql(self.server, "SELECT COUNT(*) FROM dualrec_audit_log "
            "WHERE action = 'evidence' AND record_id = ?",
            (recording['id'],))[0][0]
        self.assertEqual(exports, 1)

    def test_disposal_destroys_media_after_retention(self):
        "Past its retention a recording's media is destroyed, with a trace"
        recording = self.wait(self.upload(self.webm.read_bytes()))
        self.assertEqual(recording['status'], 'ready', recording['error'])
        stored = self.stored(recording['id'], 'compressed_path')
        self.assertTrue(stored.exists())
        self.server.run_python(
            "import datetime as dt\n"
            "from trytond.modules.dualrec_core.hold import set_contract_end\n"
            "Recording = pool.get('dualrec.recording')\n"
            f"recording = Recording({recording['id']})\n"
            "set_contract_end([recording.ticket], dt.date(2000, 1, 31))\n"
            "Recording.list_expired()\n"
            "Recording.dispose([recording])\n")
        # the commit destroyed the file; the record stays as the trace
        self.assertFalse(stored.exists())
        data = self.call('GET', f"/recordings/{recording['id']}",
            'sales').json()
        self.assertEqual(data['status'], 'disposed')
        self.assertEqual(data['compressed_sha256'],
            recording['compressed_sha256'])
        response = self.call('GET', f"/recordings/{recording['id']}/media",
            'sales', headers={'Range': 'bytes=0-'})
        self.assertEqual(response.status_code, 409)
        disposals = sql(self.server, "SELECT COUNT(*) FROM dualrec_audit_log "
            "WHERE action = 'dispose' AND record_id = ?",
            (recording['id'],))[0][0]
        self.assertEqual(disposals, 1)
