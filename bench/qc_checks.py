#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Run the automatic checks on recordings with known defects; print JSON.

    .venv/bin/python -m bench.qc_checks [--seconds 60] [--compressed]
        [--plan-seconds 2400]

It generates 640x360 15 fps recordings of --seconds each with
dualrec_review's autocheck.generate_recording (a counter, two cartoon faces,
speech-like sound): clean, a silent stretch (40% of the length), a black
stretch (10%, at least 4 s), a frozen stretch (15%, at least 10 s), one face
only (the customer leaves after 20%), no audio; and, on the clean recording,
a timeline with a required node unconfirmed (missing node) and a script
longer than the recording (too short).  It runs autocheck.run_all on each
(with --compressed, also on the output of dualrec_core's media.transcode
for the plan of a --plan-seconds recording: 256x144 at 5 fps for 2400) and
prints one JSON object per case and variant ('source', 'compressed'):

* results: per check code, the result and the value measured;
* positives: the checks the injected defect should trip, and predicted
  those that did not pass;

then one summary object:

* scores: per variant and check code, precision and recall (a case is
  positive for a check when its defect was injected, predicted positive
  when the result is not 'pass'; null when undefined) with the counts;
* seconds_per_minute: per variant, wall-clock seconds of checking per
  minute of video, the media analysis (one ffmpeg pass: silence,
  loudness, black, freeze) and the faces (decoding at 1 fps and the Haar
  cascade) apart;
* generate_seconds: time spent generating the recordings (two at a time).
"""
import argparse
import concurrent.futures
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dualrec import media  # noqa: E402
from dualrec.qc import autocheck  # noqa: E402

START = dt.datetime(2024, 5, 6, 9, 0)


def script(seconds):
    """Return (nodes, timeline) of a four-node script recorded over seconds
    seconds, each node confirmed as the next starts."""
    names = ["Identity", "Product", "Risk Warning", "Signature"]
    nodes = [{'id': i + 1, 'sequence': i + 1, 'name': name,
            'min_seconds': seconds / 8, 'required': True}
        for i, name in enumerate(names)]
    step = seconds / len(names)
    timeline = [{'node': node['id'],
            'started_at': START + dt.timedelta(seconds=i * step),
            'confirmed_at': START + dt.timedelta(seconds=(i + 1) * step)}
        for i, node in enumerate(nodes)]
    return nodes, timeline


def cases(seconds):
    """Return {case: (recording options, defect codes, script changer)}:
    what each generated recording carries and which checks it should
    trip."""
    black = max(4, seconds * 0.1)
    frozen = max(10, seconds * 0.15)

    def unconfirmed(nodes, timeline):
        timeline[2] = dict(timeline[2], confirmed_at=None)
        return nodes, timeline

    def too_short(nodes, timeline):
        return [dict(n, min_seconds=seconds / 3) for n in nodes], timeline
    return {
        'clean': ({}, set(), None),
        'silent': ({'silent': (seconds * 0.3, seconds * 0.7)}, {'silence'},
            None),
        'black': ({'black': (seconds * 0.4, seconds * 0.4 + black)},
            {'black'}, None),
        'frozen': ({'frozen': (seconds * 0.5, seconds * 0.5 + frozen)},
            {'freeze'}, None),
        'one_face': ({'faces': [(0, seconds * 0.2, 2),
                        (seconds * 0.2, seconds, 1)]}, {'faces'}, None),
        'no_audio': ({'audio': False}, {'silence', 'loudness'}, None),
        'missing_node': (None, {'timeline'}, unconfirmed),
        'too_short': (None, {'duration'}, too_short),
        }


class TimingRunner:
    "subprocess.run that adds the wall seconds of each ffmpeg pass up"

    def __init__(self):
        self.seconds = {}

    def __call__(self, args, **kwargs):
        kind = 'faces' if 'rawvideo' in args else 'media'
        started = time.monotonic()
        try:
            return subprocess.run(args, **kwargs)
        finally:
            self.seconds[kind] = (self.seconds.get(kind, 0)
                + time.monotonic() - started)


def check(path, nodes, timeline, seconds):
    """Return (results, media seconds, faces seconds) of run_all on path;
    the faces' share is all but the media pass (it includes the probe)."""
    runner = TimingRunner()
    started = time.monotonic()
    results = autocheck.run_all(str(path), nodes, timeline, seconds,
        runner=runner)
    total = time.monotonic() - started
    analysis = runner.seconds.get('media', 0)
    return results, analysis, total - analysis


def scores(rows):
    "Return per check code the precision and recall over rows."
    figures = {}
    for code in autocheck.CODES:
        tp = sum(code in r['positives'] and code in r['predicted']
            for r in rows)
        fp = sum(code not in r['positives'] and code in r['predicted']
            for r in rows)
        fn = sum(code in r['positives'] and code not in r['predicted']
            for r in rows)
        figures[code] = {
            'precision': round(tp / (tp + fp), 3) if tp + fp else None,
            'recall': round(tp / (tp + fn), 3) if tp + fn else None,
            'tp': tp, 'fp': fp, 'fn': fn,
            }
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=60,
        help="length of each generated recording")
    parser.add_argument('--compressed', action='store_true',
        help="also check the output of the media pipeline's transcode")
    parser.add_argument('--plan-seconds', type=float, default=2400,
        help="duration whose plan the compressed variant is encoded with")
    args = parser.parse_args()
    seconds = args.seconds
    table = cases(seconds)
    variants = ['source'] + (['compressed'] if args.compressed else [])
    rows = {variant: [] for variant in variants}
    timings = {variant: {'media': 0.0, 'faces': 0.0}
        for variant in variants}
    with tempfile.TemporaryDirectory(prefix='bench-qc-') as tmp:
        directory = Path(tmp)
        started = time.monotonic()
        paths = {}
        with concurrent.futures.ThreadPoolExecutor(2) as executor:
            futures = {name: executor.submit(autocheck.generate_recording,
                    str(directory / f'{name}.mp4'), seconds, **options)
                for name, (options, _, _) in table.items()
                if options is not None}
            for name, future in futures.items():
                paths[name] = {'source': Path(future.result())}
        generate_seconds = time.monotonic() - started
        if args.compressed:
            for name, variant in paths.items():
                source = media.probe(variant['source'])
                plan = media.plan(args.plan_seconds, width=source.width,
                    height=source.height, fps=source.fps)
                output = directory / f'{name}-compressed.mp4'
                media.transcode(variant['source'], output, plan, directory,
                    source_probe=source)
                variant['compressed'] = output
        for name, (options, positives, change) in table.items():
            nodes, timeline = script(seconds)
            if change:
                nodes, timeline = change(nodes, timeline)
            recording = paths[name if options is not None else 'clean']
            for variant in variants:
                results, analysis, faces = check(recording[variant], nodes,
                    timeline, seconds)
                timings[variant]['media'] += analysis
                timings[variant]['faces'] += faces
                row = {
                    'case': name, 'variant': variant,
                    'positives': sorted(positives),
                    'predicted': [r.code for r in results
                        if r.result != 'pass'],
                    'results': {r.code: {'result': r.result,
                            'value': r.value} for r in results},
                    }
                rows[variant].append(row)
                print(json.dumps(row), flush=True)
    minutes = len(table) * seconds / 60
    print(json.dumps({
                'seconds': seconds,
                'cases': len(table),
                'scores': {variant: scores(rows[variant])
                    for variant in variants},
                'seconds_per_minute': {variant: {
                        kind: round(value / minutes, 2)
                        for kind, value in timings[variant].items()}
                    for variant in variants},
                'generate_seconds': round(generate_seconds, 1),
                }), flush=True)


if __name__ == '__main__':
    main()
