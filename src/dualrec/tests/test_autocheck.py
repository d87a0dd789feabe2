# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import concurrent.futures
import dataclasses
import datetime as dt
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

from dualrec import media
from dualrec.qc import autocheck
from dualrec.testing import generate_recording, join_takes
from dualrec.qc.autocheck import (
    CODES, RULES, CheckResult, FilterLog, Thresholds, analyse_media,
    check_timeline, count_faces, face_result, media_results, parse_filter_log, run_all, worst)

START = dt.datetime(2024, 5, 6, 9, 0)
NODES = [
    {'id': 11, 'sequence': 1, 'name': "Identity", 'min_seconds': 3,
        'required': True},
    {'id': 12, 'sequence': 2, 'name': "Risk Warning", 'min_seconds': 4,
        'required': True},
    {'id': 13, 'sequence': 3, 'name': "Small Talk", 'min_seconds': 0,
        'required': False},
    {'id': 14, 'sequence': 4, 'name': "Signature", 'min_seconds': 3.5,
        'required': True},
    ]


def at(seconds):
    return START + dt.timedelta(seconds=seconds)


def entry(node, start, end):
    return {'node': node, 'started_at': None if start is None else at(start),
        'confirmed_at': None if end is None else at(end)}


# Identity 0-5, Risk Warning 5-12, Signature 15-20 (Small Talk skipped)
TIMELINE = [entry(11, 0, 5), entry(12, 5, 12), entry(14, 15, 20)]


def _fake_runner(returncode, stderr=b''):
    def runner(args, **kwargs):
        return subprocess.CompletedProcess(args, returncode, b'', stderr)
    return runner


def by_code(results):
    return {r.code: r for r in results}


class TimelineTestCase(unittest.TestCase):
    "Test the duration and node timeline checks"

    def test_rules(self):
        "Missing, unconfirmed and misordered nodes fail, gaps warn"
        table = [
            # name, timeline, duration, (duration, timeline), problems
            ('complete', TIMELINE, 20, ('pass', 'pass'), []),
            ('missing', [TIMELINE[0], TIMELINE[2]], 20, ('pass', 'fail'),
                [('missing', "Risk Warning")]),
            ('unconfirmed', [TIMELINE[0], entry(12, 5, None), TIMELINE[2]],
                20, ('pass', 'fail'), [('unconfirmed', "Risk Warning")]),
            ('not started', [TIMELINE[0], entry(12, None, 12), TIMELINE[2]],
                20, ('pass', 'fail'), [('unconfirmed', "Risk Warning")]),
            ('out of order', [entry(11, 8, 12), entry(12, 0, 6),
                    TIMELINE[2]], 20, ('pass', 'fail'),
                [('out_of_order', "Risk Warning")]),
            ('overlap', [entry(11, 0, 6), entry(12, 5, 12), TIMELINE[2]],
                20, ('pass', 'fail'), [('out_of_order', "Risk Warning")]),
            ('gap', [TIMELINE[0], TIMELINE[1], entry(14, 43, 48)], 48,
                ('pass', 'warn'), [('gap', "Signature")]),
            ('gap at the limit', [TIMELINE[0], TIMELINE[1],
                    entry(14, 42, 48)], 48, ('pass', 'pass'), []),
            ('optional node', TIMELINE + [entry(13, 12, None)], 20,
                ('pass', 'pass'), []),
            ('retake', [entry(12, 1, None)] + TIMELINE, 20,
                ('pass', 'pass'), []),
            ('short', TIMELINE, 10.4, ('fail', 'pass'), []),
            ('unknown duration', TIMELINE, None, ('fail', 'pass'), []),
            ('empty', [], 20, ('pass', 'fail'), [('missing', "Identity"),
                    ('missing', "Risk Warning"), ('missing', "Signature")]),
            ]
        for name, timeline, duration, expected, problems in table:
            with self.subTest(name):
                results = check_timeline(list(reversed(NODES)), timeline,
                    duration, Thresholds())
                self.assertEqual([r.code for r in results],
                    ['duration', 'timeline'])
                self.assertEqual(tuple(r.result for r in results), expected)
                found = results[1].details['problems']
                self.assertEqual([(p['problem'], p['node']) for p in found],
                    problems)
                self.assertEqual(results[1].value, len(problems))
                self.assertEqual(results[0].threshold, 10.5)
                self.assertEqual(results[0].rule, 'circ54_art7_content')
                self.assertEqual(results[1].rule, 'circ54_art8_continuous')
                json.dumps(results[1].details)

    def test_gap_threshold(self):
        "The gap allowed between nodes is the threshold's"
        results = check_timeline(NODES, TIMELINE, 20,
            Thresholds(timeline_gap=2))
        self.assertEqual(results[1].result, 'warn')
        self.assertEqual(results[1].details['problems'], [{'problem': 'gap',
                    'node': "Signature", 'after': "Risk Warning",
                    'seconds': 3.0}])

    def test_worst(self):
        "The worst result wins; no result passes"
        def result(value):
            return CheckResult('black', value, None, None, 's',
                'circ54_art8_continuous', {})
        for values, expected in [
                ([], 'pass'), (['pass'], 'pass'), (['pass', 'warn'], 'warn'),
                (['warn', 'fail', 'pass'], 'fail')]:
            with self.subTest(values=values):
                self.assertEqual(worst([result(v) for v in values]), expected)


LOG = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'recording.mp4':
  Duration: 00:00:20.00, start: 0.000000, bitrate: 181 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p, \
640x360, 130 kb/s, 15 fps, 15 tbr, 15360 tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, \
mono, fltp, 47 kb/s (default)
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))
  Stream #0:1 -> #0:1 (aac (native) -> pcm_s16le (native))
Output #0, null, to 'pipe:':
  Stream #0:1(und): Audio: pcm_s16le, 48000 Hz, mono, s16, 768 kb/s
[Parsed_silencedetect_0 @ 0x7f0] silence_start: 2.5
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_start: 6
[Parsed_silencedetect_0 @ 0x7f0] silence_end: 6.25 | silence_duration: 3.75
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_duration: 2
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_end: 8
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_start: 8
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_duration: 4.5
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_end: 12.5
[Parsed_silencedetect_0 @ 0x7f0] silence_start: 17.0
[Parsed_freezedetect_1 @ 0x7f1] lavfi.freezedetect.freeze_start: 18.2
[Parsed_ebur128_1 @ 0x7f2] Summary:

  Integrated loudness:
    I:         -23.4 LUFS
    Threshold: -33.6 LUFS

  Loudness range:
    LRA:         5.1 LU
[Parsed_blackdetect_0 @ 0x7f3] black_start:9 black_end:11.5 \
black_duration:2.5
[Parsed_blackdetect_0 @ 0x7f3] black_start:19 black_end:19.5 \
black_duration:0.5
[out#0/null @ 0x55f] video:50KiB audio:375KiB subtitle:0KiB
frame=  300 fps=0.0 q=-0.0 Lsize=N/A time=00:00:20.00 bitrate=N/A
"""

NO_AUDIO_LOG = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'mute.mp4':
  Duration: 01:02:03.50, start: 0.000000, bitrate: 11 kb/s
  Stream #0:0[0x1](und): Video: h264 (High), yuv420p, 256x144, 5 fps
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))
Output #0, null, to 'pipe:':
  Stream #0:0(und): Video: wrapped_avframe, yuv420p, 256x144
"""


def filter_log(**values):
    return dataclasses.replace(FilterLog(duration=100.0, audio=True,
            silence=[], black=[], freeze=[], loudness=-20.0), **values)


class FilterLogTestCase(unittest.TestCase):
    "Test the reading and judging of ffmpeg's detection filters"

    def test_parse(self):
        "Segments, loudness and the audio stream are read from the log"
        log = parse_filter_log(LOG)
        self.assertEqual(log, FilterLog(duration=20.0, audio=True,
                silence=[(2.5, 6.25), (17.0, 20.0)],
                black=[(9.0, 11.5), (19.0, 19.5)],
                freeze=[(6.0, 8.0), (8.0, 12.5), (18.2, 20.0)],
                loudness=-23.4))

    def test_parse_duration(self):
        "A given duration closes and clips the segments"
        log = parse_filter_log(LOG, 19.25)
        self.assertEqual(log.duration, 19.25)
        self.assertEqual(log.silence[-1], (17.0, 19.25))
        self.assertEqual(log.black[-1], (19.0, 19.25))

    def test_parse_no_audio(self):
        "A file without audio stream has no audio and no loudness"
        log = parse_filter_log(NO_AUDIO_LOG)
        self.assertEqual((log.duration, log.audio, log.loudness),
            (3723.5, False, None))
        self.assertEqual((log.silence, log.black, log.freeze), ([], [], []))

    def test_parse_output_audio_ignored(self):
        "Only the input's streams tell whether there is audio"
        text = NO_AUDIO_LOG + "  Stream #0:1: Audio: pcm_s16le\n"
        self.assertFalse(parse_filter_log(text).audio)

    def test_results(self):
        "Each measure gives pass, warn or fail against its threshold"
        table = [
            # name, log values, code, result, value, threshold, unit
            ('quiet room', {}, 'silence', 'pass', 0, 0.3, 'ratio'),
            ('pauses', {'silence': [(0, 10), (20, 30), (40, 49)]},
                'silence', 'pass', 0.29, 0.3, 'ratio'),
            ('silent share', {'silence': [(0, 10), (20, 30), (40, 50)]},
                'silence', 'warn', 0.3, 0.3, 'ratio'),
            ('mostly silent', {'silence': [(0, 20), (30, 50), (60, 80)]},
                'silence', 'fail', 0.6, 0.6, 'ratio'),
            ('long silence', {'silence': [(10, 25)], 'duration': 1000.0},
                'silence', 'warn', 15, 15, 's'),
            ('very long silence', {'silence': [(10, 40)], 'duration': 1000.0},
                'silence', 'fail', 30, 30, 's'),
            ('loud', {}, 'loudness', 'pass', -20, -40, 'LUFS'),
            ('faint', {'loudness': -45.0}, 'loudness', 'warn', -45, -40,
                'LUFS'),
            ('inaudible', {'loudness': -50.5}, 'loudness', 'fail', -50.5,
                -40, 'LUFS'),
            ('digital silence', {'loudness': -70.0}, 'loudness', 'fail',
                -70, -40, 'LUFS'),
            ('black', {'black': [(5, 7.5)]}, 'black', 'fail', 2.5, 2, 's'),
            ('black flash', {'black': [(5, 6.5)]}, 'black', 'pass', 0, 2,
                's'),
            ('frozen', {'freeze': [(5, 10)]}, 'freeze', 'fail', 5, 5, 's'),
            ('still', {'freeze': [(5, 9.9)]}, 'freeze', 'pass', 0, 5, 's'),
            ('keyframe flicker', {'freeze': [(5, 7), (7.2, 8), (8, 10.5)]},
                'freeze', 'fail', 5.5, 5, 's'),
            ('two stills', {'freeze': [(5, 8), (9, 12)]}, 'freeze', 'pass',
                0, 5, 's'),
            ('black is frozen', {'freeze': [(5, 20)], 'black': [(6, 18)]},
                'freeze', 'pass', 0, 5, 's'),
            ('frozen then black', {'freeze': [(0, 20)], 'black': [(6, 18)]},
                'freeze', 'fail', 6, 5, 's'),
            ('no audio', {'audio': False, 'loudness': None}, 'silence',
                'fail', 100, 30, 's'),
            ('no audio', {'audio': False, 'loudness': None}, 'loudness',
                'fail', None, -40, 'LUFS'),
            ]
        for name, values, code, result, value, threshold, unit in table:
            with self.subTest(name, code=code):
                results = media_results(filter_log(**values), Thresholds())
                self.assertEqual([r.code for r in results],
                    ['silence', 'loudness', 'black', 'freeze'])
                check = by_code(results)[code]
                self.assertEqual(
                    (check.result, check.value, check.threshold, check.unit),
                    (result, value, threshold, unit))
                self.assertIn(check.rule, RULES)
                json.dumps(check.details)
        no_audio = by_code(media_results(filter_log(audio=False)))
        self.assertEqual(no_audio['silence'].details, {'reason': 'no_audio'})

    def test_faces(self):
        "Faces fail under the share or over the longest gap"
        table = [
            # name, counts, result, share, longest gap, gap
            ('two', [2] * 20, 'pass', 1.0, 0, [None, None]),
            ('crowd', [3] * 20, 'pass', 1.0, 0, [None, None]),
            ('one', [1] * 20, 'fail', 0.0, 20, [0, 20]),
            ('nobody', [0] * 5, 'fail', 0.0, 5, [0, 5]),
            ('glance away', [2] * 9 + [1] + [2] * 10, 'pass', 0.95, 1,
                [9, 10]),
            ('often away', [2, 2, 2, 2, 1] * 4, 'warn', 0.8, 1, [4, 5]),
            ('now and then', [2] * 8 + [1, 1, 1] + [2] * 9, 'warn', 0.85, 3,
                [8, 11]),
            ('away too often', [2, 2, 2, 1] * 5, 'fail', 0.75, 1, [3, 4]),
            ('left the room', [2] * 40 + [1] * 11 + [2] * 49, 'fail', 0.89,
                11, [40, 51]),
            ('stepped out', [2] * 40 + [1] * 10 + [2] * 50, 'pass', 0.9, 10,
                [40, 50]),
            ('black frames', [2] * 10 + [None] * 5 + [2] * 10, 'pass', 1.0, 0,
                [None, None]),
            ('black ends a gap', [1] * 6 + [None] + [1] * 6 + [2] * 100,
                'warn', 0.893, 6, [0, 6]),
            ('all black', [None] * 10, 'fail', 0.0, 0, [None, None]),
            ('no frame', [], 'fail', 0.0, 0, [None, None]),
            ]
        for name, counts, result, share, longest, gap in table:
            with self.subTest(name):
                check = face_result(counts, Thresholds())
                self.assertEqual((check.code, check.result, check.value,
                        check.threshold, check.unit),
                    ('faces', result, share, 0.8, 'ratio'))
                self.assertEqual(check.details['longest_gap_seconds'], longest)
                self.assertEqual(check.details['gap'], gap)
                self.assertEqual(check.details['frames'],
                    sum(c is not None for c in counts))
                self.assertEqual(check.rule, 'circ54_art8_identifiable')
        check = face_result([2, 1, 1, 1, 2], Thresholds(face_sample_fps=2))
        self.assertEqual((check.details['longest_gap_seconds'],
                check.details['gap']), (1.5, [0.5, 2.0]))

    def test_dedupe(self):
        "Overlapping detections of one face count once"
        boxes = [(10, 10, 50, 50), (15, 12, 44, 44), (100, 10, 50, 50),
            (55, 10, 20, 20)]
        self.assertEqual(autocheck._dedupe(boxes),
            [(10, 10, 50, 50), (100, 10, 50, 50), (55, 10, 20, 20)])

    def test_black_picture(self):
        "A picture is black when 98% of its pixels are under 10%"
        picture = np.full((100, 100), 20, np.uint8)
        self.assertTrue(autocheck.is_black(picture))
        picture[:2, :] = 255
        self.assertTrue(autocheck.is_black(picture))
        picture[2, 0] = 255
        self.assertFalse(autocheck.is_black(picture))

    def test_ffmpeg_failed(self):
        "A failing ffmpeg raises ffmpeg_failed with its stderr's tail"
        for function in [analyse_media, generate_recording, count_faces]:
            with self.subTest(function=function.__name__):
                args = ['x.mp4'] + ([3] if function is generate_recording
                    else [Thresholds()])
                kwargs = {'runner': _fake_runner(1, b'boom')}
                if function is count_faces:
                    kwargs['size'] = (320, 180)
                with self.assertRaises(media.MediaError) as cm:
                    function(*args, **kwargs)
                self.assertEqual(cm.exception.code, 'ffmpeg_failed')
                self.assertEqual(cm.exception.params['stderr'], 'boom')

    def test_pipe_not_read(self):
        "An ffmpeg that does not read or write the pipe leaves no thread"
        self.assertEqual(count_faces('x.mp4', size=(320, 180),
                runner=_fake_runner(0)), [])
        self.assertEqual(generate_recording('x.mp4', 3,
                runner=_fake_runner(0)), 'x.mp4')


class RecordingTestCase(unittest.TestCase):
    "Test the checks on generated recordings"
    seconds = 14
    clips = {
        'clean': {},
        'silent': {'silent': (3, 12)},
        'black': {'black': (5, 9)},
        'frozen': {'frozen': (4, 11)},
        'one_face': {'faces': 1},
        'no_audio': {'audio': False},
        }
    # The checks each clip fails (any other passes)
    defects = {
        'clean': set(),
        'silent': {'silence'},
        'black': {'black'},
        'frozen': {'freeze'},
        'one_face': {'faces'},
        'no_audio': {'silence', 'loudness'},
        }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._directory = tempfile.TemporaryDirectory(prefix='autocheck-')
        cls.directory = cls._directory.name
        cls.paths = {name: os.path.join(cls.directory, f'{name}.mp4')
            for name in cls.clips}
        compressed = cls.paths['compressed'] = os.path.join(
            cls.directory, 'compressed.mp4')
        # two cores: two clips at a time (x264 runs on one thread each)
        with concurrent.futures.ThreadPoolExecutor(2) as executor:
            generated = [executor.submit(generate_recording, cls.paths[name],
                    cls.seconds, **options)
                for name, options in cls.clips.items()]
            generated[0].result()
            source = media.probe(cls.paths['clean'])
            # the rung of a 40-minute recording
            cls.plan = media.plan(2400, width=source.width,
                height=source.height, fps=source.fps)
            generated.append(executor.submit(media.transcode,
                    cls.paths['clean'], compressed, cls.plan, cls.directory,
                    source_probe=source, preset='veryfast'))
            for future in generated:
                future.result()
            results = {name: executor.submit(run_all, path, NODES, TIMELINE,
                    cls.seconds) for name, path in cls.paths.items()}
            cls.results = {name: future.result()
                for name, future in results.items()}

    @classmethod
    def tearDownClass(cls):
        cls._directory.cleanup()
        super().tearDownClass()

    def test_generated(self):
        "The generated recordings are what was asked"
        for name, path in self.paths.items():
            with self.subTest(name):
                probe = media.probe(path)
                self.assertAlmostEqual(probe.duration, self.seconds,
                    delta=0.1)
                self.assertEqual(probe.has_audio, name != 'no_audio')
                if name != 'compressed':
                    self.assertEqual((probe.width, probe.height, probe.fps),
                        (640, 360, 15))

    def test_defects(self):
        "Each defect fails its own checks and no other"
        for name, defects in self.defects.items():
            with self.subTest(name):
                results = self.results[name]
                self.assertEqual([r.code for r in results], list(CODES))
                failed = {r.code for r in results if r.result != 'pass'}
                self.assertEqual(failed, defects)
                self.assertTrue(all(r.result == 'fail' for r in results
                        if r.code in defects))
                for result in results:
                    json.dumps(result.details)

    def test_segments(self):
        "The defects are found where they were put"
        results = {name: by_code(self.results[name]) for name in self.clips}
        for name, code, (start, end) in [
                ('silent', 'silence', (3, 12)),
                ('black', 'black', (5, 9)),
                ('frozen', 'freeze', (4, 11)),
                ]:
            with self.subTest(name):
                [[found_start, found_end]] = (
                    results[name][code].details['segments'])
                # freezedetect loses the frames up to a keyframe's flicker
                self.assertAlmostEqual(found_start, start, delta=1)
                self.assertAlmostEqual(found_end, end, delta=0.25)
        self.assertEqual(results['black']['faces'].details['black_frames'],
            4)
        self.assertEqual(results['one_face']['faces'].value, 0)
        self.assertEqual(results['no_audio']['silence'].details,
            {'reason': 'no_audio'})

    def test_compressed(self):
        "Two faces and every check still pass at the 256x144 5 fps rung"
        self.assertEqual((self.plan.width, self.plan.height, self.plan.fps),
            (256, 144, 5))
        results = by_code(self.results['compressed'])
        self.assertEqual(worst(results.values()), 'pass', results)
        self.assertEqual(results['faces'].value, 1.0)
        self.assertEqual(results['faces'].details['frames'], self.seconds)

    def test_faces_count(self):
        "Counts of faces follow the (start, end, count) asked"
        path = os.path.join(self.directory, 'varying.mp4')
        generate_recording(path, 6, 320, 180, fps=5,
            faces=[(0, 2, 2), (2, 4, 1), (4, 6, 3)], audio=False)
        self.assertEqual(count_faces(path), [2, 2, 1, 1, 3, 3])

    def test_deterministic(self):
        "Generated recordings are byte for byte reproducible"
        first, second = (generate_recording(
                os.path.join(self.directory, f'same{i}.mp4'), 2, 160, 90,
                fps=5, silent=(0.5, 1), frozen=(1, 1.5)) for i in range(2))
        with open(first, 'rb') as a, open(second, 'rb') as b:
            self.assertEqual(a.read(), b.read())


def source_probe(discontinuities=(), video=20.0, audio=20.0, count=None,
        has_audio=True):
    "A media.Probe of a 20-second source with the breaks given"
    return media.Probe(container='mp4', duration=max(video, audio),
        video_codec='h264', width=640, height=360, fps=15.0,
        audio_codec='aac' if has_audio else None,
        audio_rate=48000 if has_audio else 0,
        audio_channels=1 if has_audio else 0, size=1000,
        discontinuities=tuple(discontinuities),
        discontinuity_count=len(discontinuities) if count is None else count,
        video_seconds=video, audio_seconds=audio if has_audio else 0.0)


class ContinuityTestCase(unittest.TestCase):
    "Test the continuity check"

    def check(self, source, timeline=TIMELINE, duration=20.0,
            thresholds=Thresholds()):
        return autocheck.check_continuity(source, timeline, duration,
            thresholds)

    def test_continuous(self):
        "A source without breaks matching its timeline passes"
        result = self.check(source_probe())
        self.assertEqual(result.code, 'continuity')
        self.assertEqual(result.result, 'pass')
        self.assertEqual(result.rule, 'circ54_art8_continuous')
        self.assertEqual(result.details['problems'], [])
        self.assertEqual(result.details['timeline_seconds'], 20)

    def test_breaks(self):
        "Jumps over the threshold and any backward step fail, with position"
        jump = media.Discontinuity('video', 'jump', 4.0, 2400.0)
        short = media.Discontinuity('audio', 'jump', 6.0, 1.5)
        back = media.Discontinuity('audio', 'backward', 9.5, -4.0)
        table = [
            ([jump], [('jump', 'video', 4.0, 2400.0)]),
            ([short], []),
            ([back], [('backward', 'audio', 9.5, -4.0)]),
            ([jump, short, back], [('jump', 'video', 4.0, 2400.0),
                    ('backward', 'audio', 9.5, -4.0)]),
            ]
        for breaks, expected in table:
            with self.subTest(breaks=breaks):
                result = self.check(source_probe(breaks))
                self.assertEqual(result.result,
                    'fail' if expected else 'pass')
                self.assertEqual(result.value, len(expected))
                self.assertEqual([(p['problem'], p['stream'], p['position'],
                            p['seconds'])
                        for p in result.details['problems']], expected)
        # the threshold is the configuration's
        result = self.check(source_probe([short]),
            thresholds=Thresholds(continuity_jump_seconds=1))
        self.assertEqual(result.result, 'fail')

    def test_unlisted(self):
        "Breaks beyond those the probe lists still count"
        jump = media.Discontinuity('video', 'jump', 4.0, 3.0)
        result = self.check(source_probe([jump], count=80))
        self.assertEqual(result.details['unlisted'], 79)
        self.assertEqual(result.value, 2)
        # the probe lists the most severe: when its smallest listed jump is
        # harmless, so are the unlisted stutters
        short = media.Discontinuity('video', 'jump', 4.0, 0.6)
        result = self.check(source_probe([jump, short], count=80))
        self.assertEqual(result.details['unlisted'], 78)
        self.assertEqual(result.value, 1)
        self.assertEqual(result.result, 'fail')
        result = self.check(source_probe([short], count=80))
        self.assertEqual(result.result, 'pass')

    def test_sound_and_picture(self):
        "Sound and picture of different lengths fail"
        result = self.check(source_probe(video=20, audio=12))
        self.assertEqual(result.result, 'fail')
        [problem] = result.details['problems']
        self.assertEqual(problem, {'problem': 'av_mismatch', 'position': 12,
                'video_seconds': 20, 'audio_seconds': 12, 'seconds': -8})
        self.assertEqual(self.check(source_probe(video=20, audio=21)).result,
            'pass')
        self.assertEqual(self.check(
                source_probe(video=20, has_audio=False)).result, 'pass')

    def test_timeline(self):
        "The recorder's timeline and the media must last alike"
        for duration, result in [(20, 'pass'), (79, 'pass'), (81, 'fail'),
                (2420, 'fail')]:
            with self.subTest(duration=duration):
                found = self.check(source_probe(), duration=duration)
                self.assertEqual(found.result, result)
        # media shorter than the session the recorder saw
        long_session = [entry(11, 0, 5), entry(14, 15, 200)]
        found = self.check(source_probe(), timeline=long_session)
        self.assertEqual(found.result, 'fail')
        [problem] = found.details['problems']
        self.assertEqual(problem, {'problem': 'timeline_gap', 'position': 20,
                'timeline_seconds': 200, 'media_seconds': 20,
                'seconds': -180})
        # no timeline, no source: nothing to compare
        found = self.check(None, timeline=[])
        self.assertEqual(found.result, 'pass')
        self.assertEqual(found.details['source'], 'not probed')

    def test_repeats_not_frozen(self):
        "Frames the encoding repeated over a source's gap are not frozen"
        log = FilterLog(duration=2407, audio=True, silence=[], black=[],
            freeze=[(4.2, 2404.3)], loudness=-20)
        repeats = [(3.95, 2404.0)]
        freeze = by_code(media_results(log, repeats=repeats))['freeze']
        self.assertEqual(freeze.result, 'pass')
        self.assertEqual(freeze.details['repeated'], [[3.95, 2404.0]])
        self.assertEqual(by_code(media_results(log))['freeze'].result,
            'fail')
        # a frozen stretch beside the gap is still frozen
        log = dataclasses.replace(log, freeze=[(4.2, 2420)])
        freeze = by_code(media_results(log, repeats=repeats))['freeze']
        self.assertEqual(freeze.result, 'fail')
        self.assertAlmostEqual(freeze.value, 2420 - 2404.9, places=3)


class GapTestCase(unittest.TestCase):
    "Test the checks on two takes joined with a timestamp jump"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._directory = tempfile.TemporaryDirectory(prefix='autocheck-gap-')
        directory = cls._directory.name
        first = generate_recording(os.path.join(directory, 'a.mp4'), 6,
            320, 180, fps=10)
        second = generate_recording(os.path.join(directory, 'b.mp4'), 4,
            320, 180, fps=10)
        source = join_takes(first, second,
            os.path.join(directory, 'joined.mp4'), gap=12)
        cls.source = media.probe(source)
        plan = media.plan(cls.source.duration, width=cls.source.width,
            height=cls.source.height, fps=cls.source.fps)
        cls.output = os.path.join(directory, 'output.mp4')
        cls.transcoded = media.transcode(source, cls.output, plan, directory,
            source_probe=cls.source, preset='veryfast')
        cls.timeline = [entry(11, 0, 10), entry(12, 10, 22)]

    @classmethod
    def tearDownClass(cls):
        cls._directory.cleanup()
        super().tearDownClass()

    def test_gap(self):
        "The jump fails continuity where it is; the repeats are not frozen"
        self.assertEqual(self.transcoded.probe.fps, 10)
        results = by_code(run_all(self.output, NODES, self.timeline,
                self.transcoded.probe.duration, source=self.source))
        continuity = results['continuity']
        self.assertEqual(continuity.result, 'fail')
        jumps = [(p['stream'], p['problem'])
            for p in continuity.details['problems']]
        self.assertEqual(sorted(jumps), [('audio', 'jump'), ('video', 'jump')])
        for problem in continuity.details['problems']:
            self.assertAlmostEqual(problem['position'], 6, delta=0.2)
            self.assertAlmostEqual(problem['seconds'], 12, delta=0.2)
        self.assertEqual(results['freeze'].result, 'pass')
        self.assertEqual(results['black'].result, 'pass')
        # without the source the 12 repeated seconds look frozen
        unknown = by_code(run_all(self.output, NODES, self.timeline,
                self.transcoded.probe.duration))
        self.assertEqual(unknown['freeze'].result, 'fail')
        self.assertEqual(unknown['continuity'].result, 'pass')
