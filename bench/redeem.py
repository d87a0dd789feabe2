#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Redeem coupons over the JSON API from concurrent clients; print JSON.

    DUALREC_TEST_BACKEND=postgresql .venv/bin/python -m bench.redeem
        [--coupons 10000] [--clients 20] [--insurer-share 0.5]
        [--duplicates 0.01] [--servers 1] [--backend postgresql]
        [--profile N] [--worker-nice 10] [--no-demo]

It creates the database of a server with the demo data (``LiveServer``;
PostgreSQL at 127.0.0.1:5432 as trytond-postgresql.conf says, or SQLite),
sets up in it, through trytond before the server starts, a merchant with
two stores and a staff user, a car-wash service with its agreement, a
bearer batch of our company and an insurer-funded batch bound to plates,
issues --coupons coupons (--insurer-share of them insurer-funded: their
redemption creates two orders, the merchant's and the insurer's) and one
API token per client.  It then starts --servers trytond processes (each is
werkzeug's threaded server: one thread per connection; with more than one,
each on its own port and the clients spread over them, as behind a
balancer) and --clients threads, each with its own keep-alive
``requests.Session``, post ``/coupons/redeem`` once per coupon with a
unique use_request_no (a few warm-up coupons first, not timed).  About
--duplicates of the requests are repeats queued a little after the first
one, so that they may run at the same time: half are retries of the same
request (expected 200, the first redemption), half other requests for the
same coupon (expected 409 already_redeemed).  After the run it counts, by
SQL, the standing redemptions per coupon (double redemptions: coupons with
more than their usage limit; coupons whose count of uses differs from
them), the orders created and the redemptions without their orders.
Figures: redemptions per second (first redemptions, 201, over the wall
time of the timed run), latency percentiles of every timed request, the
statuses, the CPU seconds of the client and the servers.  --profile N then
redeems N coupons of each batch in this process (``Redemption.redeem`` in
a transaction of the merchant user) for their CPU time and SQL queries,
the cProfile listing on stderr.  Target on this
2-core machine: >= 200 redemptions/s, p99 < 200 ms, 0 double redemptions.
"""
import argparse
import json
import math
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import LiveServer, free_port, sql  # noqa: E402

PREFIX = 'bench'
STORES = ['TH', 'FT']
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def percentile(values, share):
    "Return the share (0..1) percentile of the sorted values (nearest rank)."
    if not values:
        return None
    rank = max(math.ceil(share * len(values)) - 1, 0)
    return values[min(rank, len(values) - 1)]


def cpu_seconds(pid):
    "Return the user + system CPU seconds of pid and its threads."
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid):
    "Return the CPU seconds of pid and its living descendants."
    children = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return total


def wait_orders(server, timeout=900):
    """Wait until no redemption waits for its orders (the worker created
    them); return the seconds waited and the redemptions still waiting."""
    began = time.perf_counter()
    while True:
        (pending,), = sql(server,
            'SELECT COUNT(*) FROM dualrec_coupon_redemption '
            'WHERE orders_pending = ?', (True,))
        waited = time.perf_counter() - began
        if not pending or waited > timeout:
            return waited, pending
        time.sleep(0.5)


def threads_of(pid):
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('Threads:'):
            return int(line.split()[1])
    return 0


def plate(number):
    "Return the plate of the insurer-funded coupon number."
    return f'粤A{number:05d}'


class BenchServer(LiveServer):
    """A LiveServer whose database is prepared before the web servers
    start (they then read the committed data with cold caches), with
    servers trytond processes on as many ports."""

    def __init__(self, prepare, servers=1, worker_nice=10, demo=True):
        super().__init__(worker=True)
        self.demo = demo
        self.worker_nice = worker_nice
        self.prepare = prepare
        self.servers = servers
        self.extra = []         # the other trytond processes
        self.urls = [self.url]
        self.prepared = None

    def _start(self):
        bin_ = Path(sys.executable).parent
        root = Path(__file__).resolve().parent.parent
        subprocess.run([sys.executable, str(root / 'scripts' / 'setup_db.py'),
                '-c', *self.config, '-d', self.database,
                *(['--demo'] if self.demo else [])],
            check=True, env=self._env(), cwd=root,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.prepared = self.prepare(self)
        self.process = subprocess.Popen(
            [str(bin_ / 'trytond'), '-c', *self.config, '-d', self.database],
            env=self._env(), cwd=root,
            stdout=self.log, stderr=subprocess.STDOUT)
        for n in range(1, self.servers):
            port = free_port()
            overlay = self.directory / f'server-{n}.conf'
            overlay.write_text(f"[web]\nlisten = localhost:{port}\n")
            self.extra.append(subprocess.Popen(
                    [str(bin_ / 'trytond'), '-c', *self.config,
                        str(overlay), '-d', self.database],
                    env=self._env(), cwd=root,
                    stdout=self.log, stderr=subprocess.STDOUT))
            self.urls.append(f'http://localhost:{port}')
        self.start_worker()
        deadline = time.monotonic() + 120
        waiting = list(zip([self.process, *self.extra], self.urls))
        while waiting and time.monotonic() < deadline:
            process, url = waiting[0]
            if process.poll() is not None:
                raise RuntimeError(f"trytond exited: see {self.log.name}")
            try:
                with requests.get(url + '/', timeout=2):
                    waiting.pop(0)
            except requests.RequestException:
                time.sleep(0.3)
        if waiting:
            raise RuntimeError(f"trytond did not answer: see {self.log.name}")
        return self

    def start_worker(self):
        "Start the worker that creates the orders, below the web servers."
        super().start_worker()
        if self.worker_nice:
            os.setpriority(os.PRIO_PGRP, self.worker_process.pid,
                self.worker_nice)

    @property
    def pids(self):
        return [p.pid for p in [self.process, *self.extra] if p]

    def stop(self):
        for process in self.extra:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        super().stop()


def prepare(coupons, insurer, warmup, clients, profile=0):
    """Return the function that sets up the bench's records in the
    server's database (in this process, through trytond; committed) and
    returns the codes of the coupons (insurer-funded ones with their
    plate), the warm-up codes, one API token per client and 2 * profile
    + 1 coupons of each batch for the profile."""
    def set_up(server):
        # the server's configuration, as its processes read it
        for key in ['TRYTOND_CONFIG', 'TRYTOND_DATABASE_URI',
                'TRYTOND_DATABASE__PATH', 'DB_NAME', 'DB_CACHE']:
            os.environ.pop(key, None)
        from trytond import config
        config.update_etc(server.config)
        from trytond.modules.dualrec_valueadd.tests.tools import (
            set_up_valueadd)
        from trytond.pool import Pool
        from trytond.transaction import Transaction, TransactionError

        database = server.database
        pool = Pool(database)
        with Transaction().start(database, 0, readonly=True):
            pool.init()
        extras = {}
        while True:
            with Transaction().start(database, 0, **extras) as transaction:
                try:
                    data = set_up_valueadd(prefix=PREFIX)
                    Token = pool.get('dualrec.api.token')
                    own = data.batches['own']
                    bound = data.batches['insurer']
                    extra = 2 * profile + 1 if profile else 0
                    own_codes = [(c.code, None) for c in own.issue(
                            [{}] * (coupons - insurer + warmup + extra))]
                    insurer_codes = [(c.code, c.plate) for c in bound.issue(
                            [{'plate': plate(i)}
                                for i in range(insurer + extra)])]
                    tokens = [Token.issue(data.users['merchant'].id, 24)[0]
                        for _ in range(clients)]
                    own_profile = own_codes[len(own_codes) - extra:]
                    insurer_profile = insurer_codes[insurer:]
                    result = {
                        'company': data.company.id,
                        'merchant': data.users['merchant'].id,
                        'batches': [own.id, bound.id],
                        'coupons': (own_codes[warmup:len(own_codes) - extra]
                            + insurer_codes[:insurer]),
                        'warmup': [c for c, _ in own_codes[:warmup]],
                        'profile': {'own': own_profile,
                            'insurer': insurer_profile},
                        'tokens': tokens,
                        }
                    transaction.commit()
                    break
                except TransactionError as error:
                    transaction.rollback()
                    error.fix(extras)
        return result
    return set_up


class Queries:
    "Count the SQL queries that trytond's cursors execute."
    count = 0

    @classmethod
    def install(cls):
        from trytond.backend.postgresql.database import LoggingCursor
        from trytond.backend.sqlite.database import SQLiteCursor
        for klass in (LoggingCursor, SQLiteCursor):
            execute = klass.execute

            def counted(self, *args, _execute=execute, **kwargs):
                cls.count += 1
                return _execute(self, *args, **kwargs)
            klass.execute = counted


def profile(server, data, count, top=20):
    """Redeem, in this process, coupons of each batch by calling
    ``Redemption.redeem`` directly in a transaction of the merchant user
    with the API's context (the access rights checked), committed each:
    one to warm up, count timed (CPU seconds, SQL queries), count more
    under cProfile (on CPU time).  Print the profile to stderr; return the
    figures per kind, the Python calls per redemption and the dualrec
    functions that cost the most: their share of the profiled CPU time
    and their calls per redemption."""
    import cProfile
    import io
    import pstats

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    database = server.database
    pool = Pool(database)
    Redemption = pool.get('dualrec.coupon.redemption')
    User = pool.get('res.user')
    Queries.install()
    figures = {}
    profiler = cProfile.Profile(time.process_time)
    for kind, coupons in data['profile'].items():
        cpu = queries = 0
        for n, (code, plate_) in enumerate(coupons):
            timed = 1 <= n <= count
            with Transaction().start(database, data['merchant'],
                    context={'language': 'en'}) as transaction:
                preferences = User.get_preferences(context_only=True)
                with transaction.set_context(preferences,
                        _check_access=True):
                    began, queries_before = time.process_time(), Queries.count
                    if n > count:
                        profiler.enable()
                    redemption, created = Redemption.redeem(code,
                        STORES[0], f'BP-{kind}-{n}', operator="李四",
                        plate=plate_)
                    profiler.disable()
                    if timed:
                        cpu += time.process_time() - began
                        queries += Queries.count - queries_before
                    assert created, code
                transaction.commit()
        figures[kind] = {'cpu_ms': round(cpu * 1000 / count, 1),
            'queries': round(queries / count, 1)}
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats('cumulative').print_stats(40)
    stats.sort_stats('tottime').print_stats(25)
    sys.stderr.write(stream.getvalue())
    redemptions = 2 * count
    costs, total = [], 0
    for (filename, line, name), (_, calls, _, cumulative, _) in (
            stats.stats.items()):
        if '/addons/' in filename:
            where = filename.split('/addons/', 1)[1]
            costs.append((cumulative, f'{where}:{line}({name})', calls))
            if name == 'redeem' and 'dualrec_valueadd' in where:
                total = cumulative
    costs.sort(reverse=True)
    figures['profiled_redemptions'] = redemptions
    figures['python_calls_per_redemption'] = round(
        stats.total_calls / redemptions)
    figures['top_dualrec'] = {name: {
            'share': round(cumulative / total, 3) if total else None,
            'calls': round(calls / redemptions, 1)}
        for cumulative, name, calls in costs[:top]}
    return figures


def jobs_of(coupons, share, rng, spread):
    """Return the requests to send: (code, plate, request_no, kind) per
    coupon in a random order, with about share of repeats, each queued up
    to spread requests after its first: a 'retry' of the same request or a
    'conflict' (another request for the same coupon)."""
    rng.shuffle(coupons)
    jobs = [(code, plate_, f'BR-{n:06d}', 'first')
        for n, (code, plate_) in enumerate(coupons)]
    repeats = round(len(coupons) * share)
    for i, n in enumerate(sorted(rng.sample(range(len(coupons)), repeats),
                reverse=True)):
        code, plate_, request_no, _ = jobs[n]
        if i % 2:
            repeat = (code, plate_, f'{request_no}-X', 'conflict')
        else:
            repeat = (code, plate_, request_no, 'retry')
        jobs.insert(n + rng.randint(1, spread), repeat)
    return jobs


def redeem(session, url, code, plate_, request_no, store):
    body = {'code': code, 'store': store, 'use_request_no': request_no,
        'operator': "李四"}
    if plate_:
        body['plate'] = plate_
    began = time.perf_counter()
    response = session.post(url, json=body, timeout=120)
    data = response.json()
    return time.perf_counter() - began, response.status_code, data


def run_clients(server, tokens, jobs, clients):
    """Post the jobs from clients threads (one session each, the servers
    shared round-robin); return (seconds, results: (kind, code,
    request_no, status, seconds, answer))."""
    work = queue.SimpleQueue()
    for job in jobs:
        work.put(job)
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    errors = []

    def client(n):
        session = requests.Session()
        session.headers['Authorization'] = f'Bearer {tokens[n]}'
        session.headers['Accept-Language'] = 'en'
        base = server.urls[n % len(server.urls)]
        url = f'{base}/{server.database}/dualrec/api/v1/coupons/redeem'
        store = STORES[n % len(STORES)]
        mine = []
        barrier.wait()
        try:
            while True:
                try:
                    code, plate_, request_no, kind = work.get_nowait()
                except queue.Empty:
                    break
                seconds, status, data = redeem(session, url, code, plate_,
                    request_no, store)
                mine.append((kind, code, request_no, status, seconds, data))
        except Exception as error:  # a broken connection: report it
            errors.append(repr(error))
        finally:
            session.close()
            with lock:
                results.extend(mine)

    threads = [threading.Thread(target=client, args=(n,))
        for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed: {errors[:3]}")
    return elapsed, results


class Sampler(threading.Thread):
    "Sample the thread count of the server processes while the run lasts."

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            try:
                self.peak = max(self.peak,
                    sum(threads_of(p) for p in self.pids))
            except OSError:
                pass


def count(server, company, batches):
    "Return the figures counted in the database after the run."
    # the standing redemptions of every coupon of the bench's batches
    per_coupon = sql(server,
        'SELECT c.id, c.usage_limit, c.uses, COUNT(r.id) '
        'FROM dualrec_coupon AS c '
        'LEFT JOIN dualrec_coupon_redemption AS r '
        "ON r.coupon = c.id AND r.state = 'done' "
        'WHERE c.batch IN (?, ?) '
        'GROUP BY c.id, c.usage_limit, c.uses', tuple(batches))
    double = sum(1 for _, limit, _, standing in per_coupon
        if standing > limit)
    mismatch = sum(1 for _, _, uses, standing in per_coupon
        if uses != standing)
    redemptions = sum(standing for *_, standing in per_coupon)
    (orders,), = sql(server,
        'SELECT COUNT(*) FROM dualrec_order '
        "WHERE company = ? AND source = 'coupon'", (company,))
    (insurer_orders,), = sql(server,
        'SELECT COUNT(*) FROM dualrec_order '
        "WHERE company = ? AND source = 'coupon' "
        "AND direction = 'receivable'", (company,))
    (missing,), = sql(server,
        'SELECT COUNT(*) FROM dualrec_coupon_redemption AS r '
        'JOIN dualrec_coupon AS c ON c.id = r.coupon '
        'WHERE r.merchant_order IS NULL '
        'OR (c.batch = ? AND r.insurer_order IS NULL)', (batches[1],))
    return {
        'redemptions_standing': redemptions,
        'double_redemptions': double,
        'uses_mismatch': mismatch,
        'orders_created': orders,
        'insurer_orders_created': insurer_orders,
        'redemptions_without_orders': missing,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--coupons', type=int, default=10000)
    parser.add_argument('--clients', type=int, default=20)
    parser.add_argument('--insurer-share', type=float, default=0.5,
        help="share of insurer-funded coupons (two orders each)")
    parser.add_argument('--duplicates', type=float, default=0.01,
        help="share of repeated requests (retries and conflicts)")
    parser.add_argument('--servers', type=int, default=1,
        help="trytond processes (each on its own port)")
    parser.add_argument('--no-demo', action='store_true',
        help="without the demo data (a quicker set-up, for iterating)")
    parser.add_argument('--worker-nice', type=int, default=10,
        help="niceness of the queue worker that creates the orders (0: "
        "as the web servers)")
    parser.add_argument('--warmup', type=int, default=None,
        help="warm-up redemptions, not timed (default 2 per client)")
    parser.add_argument('--backend', choices=['postgresql', 'sqlite'],
        default=os.environ.get('DUALREC_TEST_BACKEND') or 'postgresql')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
        help="after the run, profile N redemptions of each batch in "
        "process (Redemption.redeem in a transaction); the profile goes to "
        "stderr")
    parser.add_argument('--seed', type=int, default=2026)
    args = parser.parse_args()
    os.environ['DUALREC_TEST_BACKEND'] = args.backend
    os.environ.setdefault('DUALREC_PII_KEY', '5eed' * 16)
    os.environ.setdefault('DUALREC_MEDIA_KEYS', 'kbench:' + 'a11e' * 16)
    os.environ.setdefault('DUALREC_EVIDENCE_KEY',
        'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')
    insurer = round(args.coupons * args.insurer_share)
    warmup = 2 * args.clients if args.warmup is None else args.warmup
    rng = random.Random(args.seed)

    setup_began = time.perf_counter()
    server = BenchServer(prepare(args.coupons, insurer, warmup,
            args.clients, args.profile), servers=args.servers,
        worker_nice=args.worker_nice, demo=not args.no_demo).start()
    try:
        setup_s = time.perf_counter() - setup_began
        data = server.prepared
        tokens = data['tokens']
        # warm-up (not timed): every client's connection and the caches
        if warmup:
            run_clients(server, tokens,
                [(c, None, f'BW-{n:04d}', 'warmup')
                    for n, c in enumerate(data['warmup'])], args.clients)
        jobs = jobs_of(list(data['coupons']), args.duplicates, rng,
            2 * args.clients)
        sampler = Sampler(server.pids)
        sampler.start()
        cpu_before = [cpu_seconds(p) for p in server.pids]
        client_before = time.process_time()
        worker_before = tree_cpu_seconds(server.worker_process.pid)
        seconds, results = run_clients(server, tokens, jobs, args.clients)
        client_cpu = time.process_time() - client_before
        server_cpu = sum(cpu_seconds(p) for p in server.pids) - sum(
            cpu_before)
        worker_run_cpu = tree_cpu_seconds(server.worker_process.pid) - (
            worker_before)
        sampler.done.set()
        load1, load5, _ = os.getloadavg()
        (pending_after_run,), = sql(server,
            'SELECT COUNT(*) FROM dualrec_coupon_redemption '
            'WHERE orders_pending = ?', (True,))
        drain_s, pending = wait_orders(server)
        worker_cpu = tree_cpu_seconds(server.worker_process.pid) - (
            worker_before)
        counted = count(server, data['company'], data['batches'])
        profiled = (profile(server, data, args.profile)
            if args.profile else None)
    finally:
        server.stop()

    latencies = sorted(r[4] for r in results)
    statuses = Counter(str(r[3]) for r in results)
    by_kind, answers = {}, {}
    for kind, code, request_no, status, _, answer in results:
        key = (f'{status} {answer.get("code", "")}' if status >= 400
            else str(status))
        by_kind.setdefault(kind, Counter())[key] += 1
        if status in {200, 201}:
            answers.setdefault((code, request_no), []).append(answer['id'])
    # a repeated request answers the redemption of its first
    repeated = [ids for ids in answers.values() if len(ids) > 1]
    redeemed = statuses.get('201', 0)
    figures = {
        'benchmark': 'redeem',
        'backend': server.backend,
        'coupons': args.coupons,
        'insurer_funded': insurer,
        'clients': args.clients,
        'server_processes': args.servers,
        'server_threads': "werkzeug threaded: one thread per connection",
        'server_threads_peak': sampler.peak,
        'warmup_redemptions': warmup,
        'requests': len(results),
        'seconds': round(seconds, 2),
        'redemptions_per_s': round(redeemed / seconds, 1),
        'requests_per_s': round(len(results) / seconds, 1),
        'p50_ms': round(percentile(latencies, 0.50) * 1000, 1),
        'p90_ms': round(percentile(latencies, 0.90) * 1000, 1),
        'p99_ms': round(percentile(latencies, 0.99) * 1000, 1),
        'max_ms': round(latencies[-1] * 1000, 1),
        'statuses': dict(sorted(statuses.items())),
        'statuses_by_kind': {k: dict(v) for k, v in sorted(by_kind.items())},
        'repeats_answered_same': sum(1 for ids in repeated
            if len(set(ids)) == 1),
        'repeats_answered_other': sum(1 for ids in repeated
            if len(set(ids)) > 1),
        **counted,
        'orders_expected': (args.coupons + warmup) + insurer,
        'redemptions_waiting_orders_after_run': pending_after_run,
        'orders_drain_s': round(drain_s, 1),
        'redemptions_still_waiting': pending,
        'end_to_end_redemptions_per_s': round(
            redeemed / (seconds + drain_s), 1),
        'worker_nice': args.worker_nice,
        'worker_cpu_s_during_run': round(worker_run_cpu, 1),
        'worker_cpu_s': round(worker_cpu, 1),
        'worker_cpu_ms_per_redemption': round(
            worker_cpu * 1000 / max(redeemed, 1), 2),
        'client_cpu_s': round(client_cpu, 1),
        'server_cpu_s': round(server_cpu, 1),
        'server_cpu_ms_per_redemption': round(
            server_cpu * 1000 / max(redeemed, 1), 2),
        'setup_s': round(setup_s, 1),
        'cpus': os.cpu_count(),
        'load_average_after': [round(load1, 2), round(load5, 2)],
        }
    if profiled:
        figures['profile'] = profiled
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == '__main__':
    main()
