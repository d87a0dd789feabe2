#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Upload a generated file through the JSON API and print JSON figures.

    .venv/bin/python -m bench.upload [--size-mb 500] [--chunk-mb 8]

It starts a server with the demo data (SQLite, or PostgreSQL with
DUALREC_TEST_BACKEND=postgresql), logs in as the demo salesperson, creates a
ticket and uploads the file in chunks over loopback, then completes the
upload (the server re-reads the file to check its SHA-256).  Figures:
throughput of the chunk transfer and of the whole upload in MB/s (10^6
bytes), and the growth of the server's peak resident memory (VmHWM) over
its resident memory before the upload, in MB.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import PASSWORD, LiveServer  # noqa: E402

MB = 1000 * 1000
MIB = 1024 * 1024
MP4_HEAD = b'\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2'


def memory(pid):
    "Return (VmRSS, VmHWM) of pid in bytes."
    values = {}
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        key, _, value = line.partition(':')
        if key in {'VmRSS', 'VmHWM'}:
            values[key] = int(value.split()[0]) * 1024
    return values['VmRSS'], values['VmHWM']


def reset_peak(pid):
    "Reset VmHWM to the current RSS (Linux 4.0+); False if not allowed."
    try:
        Path(f'/proc/{pid}/clear_refs').write_text('5')
        return True
    except OSError:
        return False


def make_file(path, size):
    digest = hashlib.sha256()
    with open(path, 'wb') as file:
        written = 0
        while written < size:
            block = os.urandom(min(8 * MIB, size - written))
            if not written:
                block = MP4_HEAD + block[len(MP4_HEAD):]
            file.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--size-mb', type=int, default=500)
    parser.add_argument('--chunk-mb', type=int, default=8)
    args = parser.parse_args()
    size = args.size_mb * MB
    chunk = args.chunk_mb * MIB
    os.environ.setdefault('DUALREC_PII_KEY', '5eed' * 16)
    # uploads are encrypted as they arrive: a throw-away media key
    os.environ.setdefault('DUALREC_MEDIA_KEYS', 'kbench:' + 'a11e' * 16)

    with tempfile.TemporaryDirectory(prefix='dualrec-bench-') as tmp:
        path = Path(tmp) / 'recording.mp4'
        sha256 = make_file(path, size)
        server = LiveServer().start()
        try:
            base = f'{server.url}/{server.database}/dualrec/api/v1'
            session = requests.Session()
            token = session.post(base + '/login', json={
                    'login': 'sales', 'password': PASSWORD}).json()['token']
            session.headers['Authorization'] = f'Bearer {token}'
            products = session.get(base + '/products').json()
            product = next(p for p in products if p['script'])
            ticket = session.post(base + '/tickets', json={
                    'task_number': 'BENCH', 'product': product['id'],
                    'policyholder_name': "Bench", 'id_type': 'passport',
                    'id_number': 'E12345678'}).json()
            upload = session.post(base + '/uploads', json={
                    'ticket': ticket['id'], 'size': size, 'sha256': sha256,
                    'content_type': 'video/mp4'}).json()
            pid = server.process.pid
            rss_before, _ = memory(pid)
            peak_reset = reset_peak(pid)
            start = time.perf_counter()
            with open(path, 'rb') as file:
                offset = 0
                while offset < size:
                    data = file.read(chunk)
                    response = session.put(
                        f"{base}/uploads/{upload['id']}",
                        params={'offset': offset}, data=data,
                        headers={'Content-Type': 'application/octet-stream'})
                    response.raise_for_status()
                    offset += len(data)
            transferred = time.perf_counter()
            response = session.post(
                f"{base}/uploads/{upload['id']}/complete")
            response.raise_for_status()
            done = time.perf_counter()
            _, peak = memory(pid)
        finally:
            server.stop()
    print(json.dumps({
                'benchmark': 'upload',
                'backend': server.backend,
                'size_mb': size / MB,
                'chunk_mib': chunk / MIB,
                'chunks': -(-size // chunk),
                'transfer_seconds': round(transferred - start, 3),
                'transfer_mb_per_s': round(size / MB / (transferred - start),
                    1),
                'complete_seconds': round(done - transferred, 3),
                'total_mb_per_s': round(size / MB / (done - start), 1),
                'server_rss_before_mb': round(rss_before / MB, 1),
                'server_peak_rss_growth_mb': round(
                    (peak - rss_before) / MB, 1),
                'peak_reset': peak_reset,
                'recording_sha256_ok': response.json()['recording'][
                    'original_sha256'] == sha256,
                }, indent=2))


if __name__ == '__main__':
    main()
