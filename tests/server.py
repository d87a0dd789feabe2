# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A real trytond server for end-to-end tests.

It runs on the backend of the test run (DUALREC_TEST_BACKEND, set by
test.sh), in its own database with the demo data, on a free port, with the
web root of the project; the database is removed when the server stops.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = 'dualrec2026'


def free_port():
    with socket.socket() as sock:
        sock.bind(('localhost', 0))
        return sock.getsockname()[1]


class LiveServer:

    def __init__(self, worker=False):
        self.worker = worker
        self.worker_process = None
        self.backend = os.environ.get('DUALREC_TEST_BACKEND', 'sqlite')
        self.directory = Path(tempfile.mkdtemp(prefix='dualrec-e2e-'))
        self.port = free_port()
        self.database = f'e2e_{os.getpid()}_{self.port}'
        self.url = f'http://localhost:{self.port}'
        self.process = None
        overlay = self.directory / 'server.conf'
        overlay.write_text(f"""[database]
path = {self.directory / 'db'}
[web]
listen = localhost:{self.port}
root = {ROOT / 'var' / 'www'}
""")
        self.config = [str(ROOT / 'trytond.conf')]
        if self.backend == 'postgresql':
            self.config.append(str(ROOT / 'trytond-postgresql.conf'))
        self.config.append(str(overlay))
        self.log = open(self.directory / 'trytond.log', 'wb')

    def _env(self):
        env = dict(os.environ)
        # The unit tests' overrides must not leak into the server.
        for key in ['TRYTOND_CONFIG', 'TRYTOND_DATABASE_URI',
                'TRYTOND_DATABASE__PATH', 'DB_NAME', 'DB_CACHE']:
            env.pop(key, None)
        env['DUALREC_ADMIN_PASSWORD'] = PASSWORD
        return env

    def start(self):
        try:
            return self._start()
        except Exception:
            # the log goes with the directory: show it before
            sys.stderr.write(self.log_tail())
            self.stop()
            raise

    def _start(self):
        bin_ = Path(sys.executable).parent
        subprocess.run([sys.executable, str(ROOT / 'scripts' / 'setup_db.py'),
                '-c', *self.config, '-d', self.database, '--demo'],
            check=True, env=self._env(), cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.process = subprocess.Popen(
            [str(bin_ / 'trytond'), '-c', *self.config, '-d', self.database],
            env=self._env(), cwd=ROOT,
            stdout=self.log, stderr=subprocess.STDOUT)
        if self.worker:
            self.start_worker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trytond exited: see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + '/', timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"trytond did not answer: see {self.log.name}")

    def log_tail(self, size=4000):
        "The end of the server's log, to explain a failure"
        if not self.log.closed:
            self.log.flush()
        try:
            return (self.directory / 'trytond.log').read_text(
                errors='replace')[-size:]
        except OSError:
            return ''

    def start_worker(self):
        "Start the queue worker of the backend (see run.sh)."
        bin_ = Path(sys.executable).parent
        if self.backend == 'postgresql':
            command = [str(bin_ / 'trytond-worker'), '-c', *self.config,
                '-d', self.database, '-n', '1']
        else:
            command = [sys.executable, '-m',
                'trytond.modules.dualrec_core.worker', '-c', *self.config,
                '-d', self.database, '--interval', '0.3', '-v']
        # its own process group: trytond-worker forks a pool of processes
        # that must die with it
        self.worker_process = subprocess.Popen(command, env=self._env(),
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def run_python(self, code):
        """Run code with the pool of the server's database as pool (admin),
        again with the tables it must lock if it asks to (as trytond's
        dispatcher does)."""
        script = (
            'import sys\n'
            'from trytond import config\n'
            'config.update_etc(sys.argv[1:])\n'
            'from trytond.pool import Pool\n'
            'from trytond.transaction import Transaction, TransactionError\n'
            f'pool = Pool({self.database!r})\n'
            f'with Transaction().start({self.database!r}, 0, '
            'readonly=True):\n'
            '    pool.init()\n'
            'extras = {}\n'
            'while True:\n'
            '  try:\n'
            f'    with Transaction().start({self.database!r}, 0, **extras)'
            ' as t:\n'
            + ''.join(f'      {line}\n' for line in code.splitlines())
            + '      t.commit()\n'
            '    break\n'
            '  except TransactionError as error:\n'
            '    error.fix(extras)\n')
        result = subprocess.run(
            [sys.executable, '-c', script, *self.config],
            env=self._env(), cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"run_python failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def stop_worker(self):
        "Stop the worker at once (a crash: SIGKILL)."
        if self.worker_process and self.worker_process.poll() is None:
            try:
                os.killpg(self.worker_process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.worker_process.wait(10)

    def stop(self):
        self.stop_worker()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        if self.backend == 'postgresql':
            subprocess.run([sys.executable,
                    str(ROOT / 'scripts' / 'pg_cache.py'),
                    _pg_uri(self.config), '--drop', self.database],
                env=self._env(), cwd=ROOT, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def _pg_uri(config_files):
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_files)
    return parser.get('database', 'uri')


def sql(server, statement, params=()):
    "Run one SQL statement on the live server's database; return the rows."
    if server.backend == 'postgresql':
        import psycopg
        uri = _pg_uri(server.config).rstrip('/') + '/' + server.database
        with psycopg.connect(uri, autocommit=True) as conn:
            cursor = conn.execute(statement.replace('?', '%s'), params)
            return cursor.fetchall() if cursor.description else []
    import sqlite3
    conn = sqlite3.connect(server.directory / 'db' / f'{server.database}.sqlite')
    try:
        cursor = conn.execute(statement, params)
        rows = cursor.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()
