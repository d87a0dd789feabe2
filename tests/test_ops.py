# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The processes of ./run.sh: the supervisor runs the server, the worker and
the scheduler, and restarts the one that dies."""
import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import requests

from dualrec import testing

from .server import PASSWORD, ROOT, LiveServer, sql


def children(pid):
    "The pids and command lines of the direct children of pid (Linux)."
    path = Path(f'/proc/{pid}/task/{pid}/children')
    result = {}
    for child in path.read_text().split():
        try:
            cmdline = Path(f'/proc/{child}/cmdline').read_bytes()
        except OSError:
            continue
        result[int(child)] = cmdline.replace(b'\0', b' ').decode()
    return result


class SupervisedServer(LiveServer):
    "The suite started as run.sh starts it: scripts/supervise.py"

    def _start(self):
        subprocess.run([sys.executable, str(ROOT / 'scripts' / 'setup_db.py'),
                '-c', *self.config, '-d', self.database, '--demo'],
            check=True, env=self._env(), cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / 'scripts' / 'supervise.py'),
                '-c', *self.config, '-d', self.database,
                '--worker-interval', '0.3'],
            env=self._env(), cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"supervisor exited: see {self.log.name}")
            try:
                requests.get(self.url + '/', timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.3)
        raise RuntimeError(f"trytond did not answer: see {self.log.name}")

    def child(self, name):
        "The pid of the supervised child whose command line holds name."
        pids = [pid for pid, cmdline in children(self.process.pid).items()
            if name in cmdline]
        return pids[0] if pids else None

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                # the supervisor gives its children 10 s
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        super().stop()


@unittest.skipUnless(sys.platform.startswith('linux'), "reads /proc")
class SupervisorTestCase(unittest.TestCase):
    "Test the processes of run.sh"

    @classmethod
    def setUpClass(cls):
        cls.server = SupervisedServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.base = (f'{cls.server.url}/{cls.server.database}'
            '/dualrec/api/v1')
        cls.token = requests.post(cls.base + '/login',
            json={'login': 'sales', 'password': PASSWORD},
            timeout=30).json()['token']

    def call(self, method, path, **kwargs):
        headers = kwargs.pop('headers', {})
        headers['Authorization'] = f'Bearer {self.token}'
        return requests.request(method, self.base + path, headers=headers,
            timeout=60, **kwargs)

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.3)
        self.fail(f"{what} within {timeout} s; log:\n"
            + self.server.log_tail(6000))

    def cron_runs(self):
        return dict(sql(self.server, "SELECT c.method, COUNT(l.id) "
                "FROM ir_cron c LEFT JOIN ir_cron_log l ON l.cron = c.id "
                "WHERE c.active GROUP BY c.method"))

    def upload(self, data):
        products = self.call('GET', '/products').json()
        product = next(p for p in products if p['code'] == 'LIFE-001')
        ticket = self.call('POST', '/tickets', json={
                'task_number': 'T-OPS', 'product': product['id'],
                'policyholder_name': "李四", 'id_type': 'resident_id',
                'id_number': '11010519491231002X', 'phone': '13812345678',
                }).json()
        upload = self.call('POST', '/uploads', json={
                'ticket': ticket['id'], 'size': len(data),
                'sha256': hashlib.sha256(data).hexdigest(),
                'content_type': 'video/webm', 'timeline': [],
                }).json()
        response = self.call('PUT', f"/uploads/{upload['id']}?offset=0",
            data=data, headers={'Content-Type': 'application/octet-stream'})
        self.assertEqual(response.status_code, 200, response.text)
        response = self.call('POST', f"/uploads/{upload['id']}/complete")
        # accepted: the worker verifies and processes it
        self.assertIn(response.status_code, {200, 202}, response.text)
        return response.json()['recording']

    def test_cron_runs_and_killed_worker_is_replaced(self):
        "Every ir.cron job runs; a killed scheduler or worker is replaced"
        # At its start the scheduler runs every job that is due: all of
        # them in a new database (no next call yet).
        runs = self.wait_for(
            lambda: (lambda r: r if r and all(r.values()) else None)(
                self.cron_runs()), 60, "every cron job has not run")
        for method in ['dualrec.qc.rule|sample_all',
                'dualrec.upload|clean_expired',
                'dualrec.recording|requeue_stalled',
                'dualrec.recording|list_expired']:
            self.assertGreaterEqual(runs.get(method, 0), 1, method)
        # A job made due runs again: at the scheduler's next round (on the
        # minute), or at once when the scheduler is killed and restarted.
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        sql(self.server, "UPDATE ir_cron SET next_call = ? "
            "WHERE method = 'dualrec.recording|requeue_stalled'",
            (past.strftime('%Y-%m-%d %H:%M:%S'),))
        cron = self.wait_for(lambda: self.server.child('trytond-cron'), 20,
            "no scheduler runs")
        os.kill(cron, signal.SIGKILL)

        with tempfile.TemporaryDirectory() as directory:
            webm = Path(directory) / 'recording.webm'
            testing.generate_sample(str(webm), 12, width=640, height=360,
                fps=15, codec='vp8')
            recording = self.upload(webm.read_bytes())
        self.assertIn(recording['status'], {'verifying', 'processing'})
        name = ('trytond-worker' if self.server.backend == 'postgresql'
            else 'dualrec_core.worker')
        worker = self.wait_for(lambda: self.server.child(name), 20,
            "no worker runs")
        self.wait_for(lambda: sql(self.server, "SELECT id FROM ir_queue "
                "WHERE dequeued_at IS NOT NULL AND finished_at IS NULL"),
            30, "the worker has not taken the task")
        os.kill(worker, signal.SIGKILL)
        # a killed worker commits nothing more once the database has seen
        # its connection close (a COMMIT sent just before the kill may still
        # be completing): what is unfinished then is what the new worker
        # must take back (none when the task ended before the kill)
        time.sleep(2)
        interrupted = sql(self.server, "SELECT id FROM ir_queue "
            "WHERE dequeued_at IS NOT NULL AND finished_at IS NULL")

        replaced = self.wait_for(
            lambda: (lambda pid: pid if pid and pid != worker else None)(
                self.server.child(name)),
            20, "the killed worker was not restarted")
        self.assertNotEqual(replaced, worker)

        def status():
            data = self.call('GET', f"/recordings/{recording['id']}").json()
            return data if data['status'] in {'ready', 'failed'} else None
        data = self.wait_for(status, 90, "the recording is not processed")
        self.assertEqual(data['status'], 'ready', data.get('error'))
        # killed mid-task: the task was put back for the new worker
        if interrupted:
            taken_back = f'taking back {len(interrupted)} interrupted tasks'
            self.wait_for(lambda: taken_back
                in self.server.log_tail(200000), 120,
                "the interrupted task was not taken back")

        self.assertNotEqual(self.server.child('trytond-cron'), cron)
        self.wait_for(
            lambda: self.cron_runs()['dualrec.recording|requeue_stalled'] >= 2,
            60, "the job made due has not run again")


class BackoffTestCase(unittest.TestCase):
    "Test the restart delays of the supervisor"

    def test_delay_doubles_then_resets(self):
        "A child dying young waits 1, 2, 4 s…; after a minute alive, 1 s"
        sys.path.insert(0, str(ROOT / 'scripts'))
        try:
            import supervise
        finally:
            sys.path.remove(str(ROOT / 'scripts'))
        now = [1000.0]
        child = supervise.Child('dies',
            [sys.executable, '-c', 'raise SystemExit(3)'],
            clock=lambda: now[0])
        delays = []
        for lived in [1, 1, 1, 1, 61, 1]:
            child.start()
            child.process.wait(10)
            now[0] += lived
            self.assertTrue(child.reap())
            self.assertIsNone(child.process)
            self.assertEqual(child.due, now[0] + child.delay)
            delays.append(child.delay)
        self.assertEqual(delays, [1, 2, 4, 8, 1, 2])
        self.assertFalse(child.reap())
