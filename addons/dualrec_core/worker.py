# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Run the queued tasks of a SQLite database in a background process.

    python -m trytond.modules.dualrec_core.worker -c trytond.conf -d dualrec

``trytond-worker`` needs PostgreSQL (it waits on LISTEN/NOTIFY and takes
tasks with SELECT … FOR UPDATE SKIP LOCKED).  On the embedded SQLite default
the server is configured with ``[queue] worker = True`` so that no task runs
inside a web request, and this process polls ``ir.queue`` and runs the due
tasks one at a time, each with trytond's own ``run_task`` (retries on lock
errors included).  One process per database: SQLite has a single writer.

A task taken but not finished (the process was killed) is taken again when
the process starts: the tasks it runs are idempotent.  What such a task
left in the media pipeline's work directories (decrypted media) is removed
first: no other process runs the tasks of the database.

On PostgreSQL ``--release`` does only that clean-up and release, before
``trytond-worker`` starts (scripts/supervise.py, docker-compose.yml):
trytond-worker marks a task taken in a committed statement of its own, so a
task of a killed trytond-worker is never taken again by the next one.
"""
import argparse
import datetime as dt
import logging
import signal
import time

from .cli import open_pool, reexec_for_backend

logger = logging.getLogger(__name__)


def parse_arguments(args=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', dest='configfile', nargs='+',
        default=[], help="the trytond configuration files")
    parser.add_argument('-d', '--database', dest='database', required=True)
    parser.add_argument('--interval', type=float, default=1.0,
        help="seconds between two looks at an empty queue")
    parser.add_argument('--once', action='store_true',
        help="run the due tasks and exit")
    parser.add_argument('--release', action='store_true',
        help="only put back the tasks a killed worker had taken, and exit "
        "(run before trytond-worker, which never takes them again)")
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser.parse_args(args)


def _release_interrupted(pool, database):
    "Put back the tasks a killed worker had taken but not finished."
    from trytond.transaction import Transaction
    Queue = pool.get('ir.queue')
    with Transaction().start(database, 0) as transaction:
        tasks = Queue.search([
                ('dequeued_at', '!=', None),
                ('finished_at', '=', None),
                ])
        if tasks:
            logger.warning("taking back %d interrupted tasks", len(tasks))
            Queue.write(tasks, {'dequeued_at': None})
        transaction.commit()


def _clean_work(pool, database):
    "Remove the media pipeline's work files a killed worker left."
    from dualrec.media import pipeline
    from trytond.transaction import Transaction
    Configuration = pool.get('dualrec.configuration')
    with Transaction().start(database, 0, readonly=True):
        root = Configuration(1).get_storage_root()
    removed = pipeline.clean_workdirs(root)
    if removed:
        logger.warning("removed %d interrupted work directories", removed)


def _take(pool, database):
    "Mark the next due task as taken and return its id, or None."
    from trytond.transaction import Transaction
    Queue = pool.get('ir.queue')
    with Transaction().start(database, 0) as transaction:
        now = dt.datetime.now()
        tasks = Queue.search([
                ('dequeued_at', '=', None),
                ['OR',
                    ('scheduled_at', '=', None),
                    ('scheduled_at', '<=', now),
                    ],
                ], order=[('expected_at', 'ASC NULLS FIRST'), ('id', 'ASC')],
            limit=1)
        if not tasks:
            return None
        task, = tasks
        task.dequeued_at = now
        task.save()
        transaction.commit()
        return task.id


def work(options):
    from trytond.worker import run_task

    logging.basicConfig(
        level=logging.INFO if options.verbose else logging.WARNING,
        format='%(process)d %(asctime)s %(levelname)s %(name)s %(message)s')
    pool = open_pool(options.configfile, options.database)
    _clean_work(pool, options.database)
    _release_interrupted(pool, options.database)
    if options.release:
        return

    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(True))
    logger.info("worker ready on %s", options.database)
    while not stopping:
        task_id = _take(pool, options.database)
        if task_id:
            run_task(pool, task_id)
            continue
        if options.once:
            break
        time.sleep(options.interval)


def main(args=None):
    options = parse_arguments(args)
    reexec_for_backend(options.configfile, __spec__.name, args)
    try:
        work(options)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
