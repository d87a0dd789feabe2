#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Run the suite's processes of one database and restart any that dies.

    scripts/supervise.py -c trytond.conf var/paths.conf -d dualrec

Three children, each in its own process group (trytond-worker and
trytond-cron fork pools of processes that must die with them):

web     trytond, the web server;
worker  the queue worker: trytond-worker on PostgreSQL, the polling worker of
        dualrec_core on SQLite (trytond-worker needs LISTEN/NOTIFY);
cron    trytond-cron, the scheduler of the ir.cron jobs (it runs on both
        backends: on SQLite it takes no row lock, one process is enough).

A child that exits is started again after a delay that doubles while it keeps
dying young (1 s up to 60 s) and falls back to 1 s once it has lived a minute.
A task a killed worker had taken is taken again by the new worker: the SQLite
worker releases it at start; before trytond-worker (which marks a task taken
for good when it pulls it), ``dualrec_core.worker --release`` does the same.
SIGTERM or SIGINT stops the children (SIGTERM, then SIGKILL after 10 s) and
exits.
"""
import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger('dualrec.supervise')

MIN_DELAY, MAX_DELAY, HEALTHY = 1.0, 60.0, 60.0
STOP_TIMEOUT = 10.0


def backend_of(config_files):
    from trytond import config
    config.update_etc([str(Path(c).resolve()) for c in config_files])
    uri = config.get('database', 'uri') or ''
    return 'sqlite' if uri.startswith('sqlite') else 'postgresql'


def commands(config_files, database, backend, web_args=(),
        worker_interval=None):
    "The children to run: a dict of name → argument list."
    bin_ = Path(sys.executable).parent
    conf = ['-c', *config_files]
    if backend == 'postgresql':
        worker = [str(bin_ / 'trytond-worker'), *conf, '-d', database,
            '-n', '1']
        release = [sys.executable, '-m',
            'trytond.modules.dualrec_core.worker', *conf, '-d', database,
            '--release']
        worker = ['/bin/sh', '-c',
            f'{shlex.join(release)} && exec {shlex.join(worker)}']
    else:
        worker = [sys.executable, '-m', 'trytond.modules.dualrec_core.worker',
            *conf, '-d', database]
        if worker_interval:
            worker += ['--interval', str(worker_interval)]
    return {
        'web': [str(bin_ / 'trytond'), *conf, '-d', database, *web_args],
        'worker': worker,
        'cron': [str(bin_ / 'trytond-cron'), *conf, '-d', database,
            '-n', '1'],
        }


class Child:

    def __init__(self, name, command, clock=time.monotonic):
        self.name = name
        self.command = command
        self.clock = clock
        self.process = None
        self.started = None
        self.delay = MIN_DELAY
        self.due = 0.0          # when to start it (again)
        self.restarts = 0

    def start(self):
        self.process = subprocess.Popen(self.command, cwd=ROOT,
            start_new_session=True)
        self.started = self.clock()
        logger.info("started %s (pid %d)", self.name, self.process.pid)

    def reap(self):
        """Return True when the child has exited, and schedule its restart
        with backoff."""
        if self.process is None or self.process.poll() is None:
            return False
        lived = self.clock() - self.started
        code = self.process.returncode
        # the group may still hold the pool processes of the dead leader
        self._signal_group(signal.SIGKILL)
        self.process = None
        if lived >= HEALTHY or not self.restarts:
            self.delay = MIN_DELAY
        else:
            self.delay = min(self.delay * 2, MAX_DELAY)
        self.due = self.clock() + self.delay
        self.restarts += 1
        logger.warning("%s exited with %s after %.0f s; restart in %.0f s",
            self.name, code, lived, self.delay)
        return True

    def _signal_group(self, signum):
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self):
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)

    def wait_stopped(self, deadline):
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - self.clock()))
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        self._signal_group(signal.SIGKILL)
        self.process = None


def supervise(children, tick=0.5):
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.process is None and now >= child.due:
                    child.start()
                else:
                    child.reap()
            time.sleep(tick)
    finally:
        for child in children:
            child.stop()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            child.wait_stopped(deadline)
        logger.info("stopped")


def main(args=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', nargs='+', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--worker-interval', type=float,
        help="seconds between two looks at an empty queue (SQLite worker)")
    parser.add_argument('--without', action='append', default=[],
        choices=['web', 'worker', 'cron'], help="do not run this child")
    parser.add_argument('web_args', nargs='*',
        help="further arguments of trytond (after --)")
    options = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO,
        format='%(process)d %(asctime)s %(levelname)s %(name)s %(message)s')
    backend = backend_of(options.config)
    children = [Child(name, command) for name, command in commands(
            options.config, options.database, backend, options.web_args,
            options.worker_interval).items()
        if name not in options.without]
    supervise(children)


if __name__ == '__main__':
    main()
