# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import dataclasses
import math
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import av
import ffmpeg

from dualrec.testing import (
    concat_takes, generate_recording, generate_sample, join_takes,
    loop_recording)
from dualrec.media import (
    AAC_FRAME_SAMPLES, BUDGET_UNDERSHOOT, FAST_AAC_RATE, HEADER_BYTES,
    INTERMEDIATE_MAX_PIXELS, LADDER, MAX_BPP, MAX_SESSION_SECONDS, PRESETS, SAFETY, MediaError, aac_options,
    audio_slack, choose_preset, container_kind, cut_short, estimated_size,
    ffmpeg_executable, max_duration, plan, probe, spending_bitrate,
    ssim_psnr, transcode, verify, x264_bitrate, x264_options)

SOURCES = [None, (1280, 720), (1920, 1080), (640, 480), (720, 1280),
    (320, 240), (641, 361), (1280, 720, 15), (320, 240, 7.5)]


def frame_rate(plan):
    return plan.width * plan.height * plan.fps


def noise(size):
    "Return size bytes of deterministic noise"
    return bytes((i * 7919 + 13) % 251 for i in range(size))


class PlanTestCase(unittest.TestCase):
    "Test the bitrate ladder"

    def test_calibration(self):
        "Durations land on the rungs calibrated on talking heads"
        table = [
            # seconds, width, height, fps, video kbps (+-10%), audio kbps
            (1, 1280, 720, 25, 2304, 48),
            (30, 1280, 720, 25, 1235, 48),
            (60, 960, 540, 25, 604, 32),
            (100, 854, 480, 20, 345, 32),
            (200, 640, 360, 15, 158, 24),
            (300, 640, 360, 12, 107, 16),
            (600, 480, 270, 10, 47, 12),
            (1200, 320, 180, 10, 19, 8),
            (1800, 320, 180, 5, 12.7, 6),
            (2400, 256, 144, 5, 7.3, 6),
            (2700, 256, 144, 5, 6.1, 6),
            (3600, 256, 144, 3, 3.0, 6),
            (5400, 256, 144, 3, 1.57, 4),
            (6000, 256, 144, 2, 2.2, 3),
            (7200, 256, 144, 2, 1.11, 3),
            ]
        for seconds, width, height, fps, video, audio in table:
            with self.subTest(seconds=seconds):
                result = plan(seconds)
                self.assertEqual(
                    (result.width, result.height, result.fps),
                    (width, height, fps))
                self.assertAlmostEqual(
                    result.video_bitrate / 1000, video, delta=video / 10)
                self.assertEqual(result.audio_bitrate, audio * 1000)
                self.assertEqual(result.audio_channels, 1)
                self.assertEqual(result.low_quality, seconds >= 3600)

    def test_ladder_ordered(self):
        "Each rung needs no more pixels, frames, audio or bits than the last"
        for upper, lower in zip(LADDER, LADDER[1:]):
            self.assertLessEqual(lower.long_side, upper.long_side)
            self.assertLessEqual(lower.short_side, upper.short_side)
            self.assertLessEqual(lower.fps, upper.fps)
            self.assertLessEqual(lower.audio_bitrate, upper.audio_bitrate)
            self.assertLessEqual(lower.audio_rate, upper.audio_rate)
            self.assertLessEqual(lower.min_bpp, upper.min_bpp)
            self.assertLess(lower.min_video_bitrate, upper.min_video_bitrate)

    def test_boundaries(self):
        "Just below and at a rung's limit keep it, just above goes down"
        for source in [None, (720, 1280), (320, 240), (640, 360, 8)]:
            for audio in [True, False]:
                kwargs = dict(zip(['width', 'height', 'fps'], source or []),
                    audio=audio)
                limits = [max_duration(i, **kwargs)
                    for i in range(len(LADDER))]
                self.assertEqual(limits, sorted(limits))
                if source is None:
                    # Every rung is reached: at its limit and just above
                    self.assertEqual(len(set(limits)), len(limits))
                    for index, limit in enumerate(limits[:-1]):
                        self.assertEqual(plan(limit, **kwargs).rung, index)
                        self.assertEqual(
                            plan(limit + 0.5, **kwargs).rung, index + 1)

                def expected(seconds):
                    "The first rung whose limit reaches seconds"
                    return next((i for i, limit in enumerate(limits)
                            if limit >= seconds), None)
                for index, limit in enumerate(limits):
                    for seconds in [limit - 0.5, limit, limit + 0.5]:
                        rung = expected(seconds)
                        with self.subTest(source=source, audio=audio,
                                seconds=seconds, rung=rung):
                            if rung is None:
                                with self.assertRaises(MediaError) as cm:
                                    plan(seconds, **kwargs)
                                self.assertEqual(
                                    cm.exception.code, 'too_long')
                            else:
                                self.assertEqual(
                                    plan(seconds, **kwargs).rung, rung)

    def test_two_hours_fit(self):
        "Any session up to 120 minutes fits, flagged under the quality floor"
        self.assertEqual(MAX_SESSION_SECONDS, 7200)
        for source in SOURCES:
            kwargs = dict(zip(['width', 'height', 'fps'], source or []))
            for audio in [True, False]:
                with self.subTest(source=source, audio=audio):
                    self.assertGreater(max_duration(len(LADDER) - 1,
                            audio=audio, **kwargs), MAX_SESSION_SECONDS)
                    result = plan(MAX_SESSION_SECONDS, audio=audio, **kwargs)
                    self.assertLessEqual(estimated_size(result), 5_000_000)
                    self.assertGreaterEqual(result.fps, 2 if (
                            not source or len(source) < 3) else 1)
                    self.assertEqual(result.low_quality, audio)
        with self.assertRaises(MediaError) as cm:
            plan(3 * 3600)
        self.assertEqual(cm.exception.code, 'too_long')
        self.assertAlmostEqual(cm.exception.params['max_duration'],
            max_duration(len(LADDER) - 1))

    def test_monotonic(self):
        "A longer recording never gets more bits per second nor pixels"
        for source in SOURCES:
            kwargs = dict(zip(['width', 'height', 'fps'], source or []))
            plans = [plan(seconds, **kwargs)
                for seconds in range(1, MAX_SESSION_SECONDS + 1)]
            increases = [(longer.duration, longer.rung)
                for shorter, longer in zip(plans, plans[1:])
                if longer.bitrate > shorter.bitrate
                or frame_rate(longer) > frame_rate(shorter)
                or longer.rung < shorter.rung]
            self.assertEqual(increases, [], source)

    def test_size_arithmetic(self):
        "Video, audio and MP4 overhead stay within the target size"
        for source in SOURCES:
            for audio in [True, False]:
                kwargs = dict(zip(['width', 'height', 'fps'], source or []),
                    audio=audio)
                over = []
                for seconds in [0.5, *range(1, MAX_SESSION_SECONDS + 1, 3),
                        MAX_SESSION_SECONDS + 0.9]:
                    current = plan(seconds, **kwargs)
                    streams = (current.video_bitrate + current.audio_bitrate
                        * audio_slack(current.audio_rate)) * seconds / 8
                    # 32 bytes of index per video frame, 8 per AAC frame
                    index = (32 * current.fps
                        + 8 * current.audio_rate / AAC_FRAME_SAMPLES
                        ) * seconds
                    size = streams + index + HEADER_BYTES
                    if (size > current.target_size * (1 - SAFETY)
                            or estimated_size(current)
                            > current.target_size):
                        over.append((seconds, size))
                self.assertEqual(over, [], (source, audio))

    def test_x264_bitrate(self):
        "x264 gets whole kbit/s, never under the least bitrate"
        for asked, given in [(1114, 1000), (6589, 6000), (999, 1000),
                (2_304_000, 2_304_000), (7999, 7000)]:
            with self.subTest(asked=asked):
                self.assertEqual(x264_bitrate(asked), given)

    def test_spending_bitrate(self):
        "The budget pass spends what the first left, in whole kbit/s"
        long_plan = plan(2700)
        # 45 minutes landing 8.6 % under with 6 kbit/s of video: 1 % kept
        # back, the 4.3 % left buys one more kbit/s
        video = 6000 * 2700 // 8
        self.assertEqual(spending_bitrate(long_plan, 4_571_441, video), 7000)
        self.assertEqual(spending_bitrate(long_plan, 4_900_000, video), 6000)
        # never beyond MAX_BPP
        short = plan(10)
        self.assertEqual(spending_bitrate(short, 100_000, 100_000),
            x264_bitrate(short.spends(10 ** 9)))

    def test_short_capped(self):
        "A few seconds do not spend megabytes"
        result = plan(1)
        self.assertEqual(result.video_bitrate, MAX_BPP * 1280 * 720 * 25)
        self.assertLess(estimated_size(result), 400_000)

    def test_target_size(self):
        "A smaller target size lowers the rung"
        result = plan(300, target_size=1_000_000)
        self.assertEqual(result.target_size, 1_000_000)
        self.assertEqual(result.rung, plan(1500).rung)
        self.assertLessEqual(estimated_size(result), 1_000_000)

    def test_no_upscale(self):
        "A small source is never enlarged"
        for seconds in [1, 60, 300, 1200, 3600]:
            result = plan(seconds, width=320, height=240)
            self.assertLessEqual(result.width, 320)
            self.assertLessEqual(result.height, 240)
        self.assertEqual(
            (plan(1, width=320, height=240).width,
                plan(1, width=320, height=240).height), (320, 240))

    def test_no_frame_rate_increase(self):
        "A low frame rate source keeps its rate and needs fewer bits"
        result = plan(300, width=640, height=360, fps=9.99)
        self.assertEqual((result.rung, result.fps, result.width,
                result.audio_bitrate), (1, 10, 640, 32_000))
        self.assertEqual(plan(300, fps=29.97).fps, 12)
        self.assertLess(max_duration(0), max_duration(0, fps=12.5))

    def test_small_source_scales_threshold(self):
        "A small source reaches a rung with fewer bits"
        self.assertLess(max_duration(0), max_duration(0, width=320,
                height=240))

    def test_aspect_ratio(self):
        "The picture keeps the source's shape in the rung's box"
        self.assertEqual(
            (plan(300, width=640, height=480).width,
                plan(300, width=640, height=480).height), (480, 360))
        self.assertEqual(
            (plan(300, width=1920, height=1080).width,
                plan(300, width=1920, height=1080).height), (640, 360))
        result = plan(100, width=1280, height=720)
        self.assertEqual((result.width, result.height), (852, 480))

    def test_odd_dimensions(self):
        "Odd source sizes give even sizes, never larger than the source"
        for width, height in [(641, 361), (1281, 721), (333, 333), (3, 5)]:
            for seconds in [1, 300, 3600]:
                result = plan(seconds, width=width, height=height)
                with self.subTest(size=(width, height), seconds=seconds):
                    self.assertEqual(result.width % 2, 0)
                    self.assertEqual(result.height % 2, 0)
                    self.assertLessEqual(result.width, width)
                    self.assertLessEqual(result.height, height)
        result = plan(1, width=641, height=361)
        self.assertEqual((result.width, result.height), (640, 360))

    def test_portrait(self):
        "A portrait source is fitted in the turned box"
        result = plan(300, width=720, height=1280)
        self.assertEqual((result.width, result.height), (360, 640))
        result = plan(60, width=1080, height=1920)
        self.assertEqual((result.width, result.height), (540, 960))
        self.assertEqual(plan(300, width=720, height=1280).video_bitrate,
            plan(300, width=1280, height=720).video_bitrate)

    def test_no_audio(self):
        "Without audio the plan has no audio and more for the video"
        result = plan(1200, audio=False)
        self.assertEqual((result.audio_bitrate, result.audio_rate,
                result.audio_channels), (0, 0, 0))
        self.assertGreater(result.video_bitrate, plan(1200).video_bitrate)

    def test_quality_floor(self):
        "low_quality warns under the bits-per-pixel floor"
        result = plan(300)
        self.assertFalse(result.low_quality)
        self.assertTrue(plan(300, quality_floor=result.bits_per_pixel * 1.01)
            .low_quality)

    def test_preset(self):
        "The more pixels per second a plan encodes, the faster the preset"
        def preset_of(width, height, fps):
            return choose_preset(dataclasses.replace(plan(300), width=width,
                    height=height, fps=fps))
        self.assertEqual(preset_of(640, 360, 12), 'superfast')
        self.assertEqual(preset_of(320, 180, 10), 'medium')
        self.assertEqual(preset_of(1280, 720, 25), 'ultrafast')
        for floor, name in PRESETS[:-1]:
            # floor is width x height x fps: 1 x floor/10 x 10
            with self.subTest(floor=floor):
                self.assertEqual(preset_of(1, floor // 10, 10), name)
                self.assertNotEqual(preset_of(1, floor // 10 - 2, 10), name)
        self.assertEqual(preset_of(2, 2, 1), PRESETS[-1][1])
        # superfast keeps the macroblock tree, on both passes
        for pass_ in [1, 2]:
            self.assertEqual(x264_options(plan(300), 100_000, 'log', pass_,
                    'superfast')['x264-params'], 'rc-lookahead=20:mbtree=1')
        self.assertNotIn('x264-params',
            x264_options(plan(300), 100_000, 'log', 1, 'medium'))
        # every plan of the default ladder finds one, from 1 s to an hour
        names = {name for _, name in PRESETS}
        for seconds in [1, 60, 300, 1200, 2400, 3600]:
            self.assertIn(choose_preset(plan(seconds)), names)

    def test_aac_coder(self):
        "The 'fast' AAC coder at low sample rates, 'twoloop' above"
        self.assertEqual(aac_options(8000, FAST_AAC_RATE)['aac_coder'],
            'fast')
        self.assertEqual(aac_options(8000, 16000)['aac_coder'], 'twoloop')
        # the rungs of a few kbit/s sample at a rate the fast coder holds
        for rung in LADDER:
            if rung.audio_bitrate <= 16_000:
                with self.subTest(rung=rung):
                    self.assertLessEqual(rung.audio_rate, FAST_AAC_RATE)

    def test_invalid_duration(self):
        "A duration must be positive"
        for duration in [0, -1, math.nan, math.inf, None]:
            with self.subTest(duration=duration), \
                    self.assertRaises(ValueError):
                plan(duration)


def _fake_runner(returncode=0, stderr=b''):
    def runner(args, **kwargs):
        return subprocess.CompletedProcess(args, returncode, b'', stderr)
    return runner


class MediaTestCase(unittest.TestCase):
    "Test probing and transcoding real files (a few seconds each)"

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix='test-media-')
        cls.addClassCleanup(shutil.rmtree, cls.directory)
        cls.webm = generate_sample(cls.path('sample.webm'), 4, 640, 360,
            codec='vp8')
        cls.mp4 = generate_sample(cls.path('sample.mp4'), 4, 320, 240)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.directory, name)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(dir=self.directory)

    def transcode(self, source, plan_=None, **kwargs):
        source_probe = probe(source)
        if plan_ is None:
            plan_ = plan(source_probe.duration, width=source_probe.width,
                height=source_probe.height, audio=source_probe.has_audio)
        destination = os.path.join(self.workdir, 'out.mp4')
        workdir = os.path.join(self.workdir, 'work')
        os.mkdir(workdir)
        result = transcode(source, destination, plan_, workdir, **kwargs)
        self.assertEqual(os.listdir(workdir), [])
        self.assertEqual(os.path.getsize(destination), result.probe.size)
        return destination, plan_, result

    def assertFails(self, code, function, *args, **kwargs):
        with self.assertRaises(MediaError) as cm:
            function(*args, **kwargs)
        self.assertEqual(cm.exception.code, code, cm.exception.params)
        return cm.exception

    def test_probe_webm(self):
        "A MediaRecorder-like WebM probes with its streams"
        result = probe(self.webm)
        self.assertEqual((result.container, result.video_codec,
                result.width, result.height, result.audio_codec,
                result.audio_rate), ('webm', 'vp8', 640, 360, 'opus', 48000))
        self.assertAlmostEqual(result.duration, 4, delta=0.05)
        self.assertAlmostEqual(result.fps, 30, delta=0.1)
        self.assertEqual(result.size, os.path.getsize(self.webm))

    def test_probe_mp4(self):
        "An MP4 probes with its streams"
        result = probe(self.mp4)
        self.assertEqual((result.container, result.video_codec,
                result.width, result.height, result.audio_codec,
                result.audio_channels), ('mp4', 'h264', 320, 240, 'aac', 2))
        self.assertAlmostEqual(result.duration, 4, delta=0.05)

    def test_probe_no_duration(self):
        "A WebM without duration in its header is measured on its packets"
        path = generate_sample(self.path('live.webm'), 3, 160, 120,
            codec='vp9', streamable=True)
        with av.open(path) as container:
            self.assertIsNone(container.duration)
        self.assertAlmostEqual(probe(path).duration, 3, delta=0.05)

    def test_probe_rotation(self):
        "A rotated phone video probes at its display size"
        path = self.path('rotated.mp4')
        subprocess.run([ffmpeg_executable(), '-nostdin', '-loglevel', 'error',
                '-display_rotation', '90', '-i', self.mp4, '-c', 'copy', path],
            check=True)
        result = probe(path)
        self.assertEqual((result.width, result.height, result.rotation),
            (240, 320, 90))

    def test_probe_corrupt(self):
        "Random bytes are not a video; empty and cut files are truncated"
        random = self.path('random.webm')
        with open(random, 'wb') as file:
            file.write(noise(100_000))
        text = self.path('notes.mp4')
        with open(text, 'w') as file:
            file.write('not a recording\n' * 1000)
        empty = self.path('empty.mp4')
        open(empty, 'wb').close()
        paths = [(random, 'not_video'), (text, 'not_video'),
            (empty, 'truncated')]
        streamable = generate_sample(self.path('live.mp4'), 4, 320, 240,
            streamable=True)
        for source in [self.mp4, self.webm, streamable]:
            with open(source, 'rb') as file:
                data = file.read()
            for cut in [4096, len(data) // 2]:
                path = self.path(f'cut{cut}-' + os.path.basename(source))
                with open(path, 'wb') as file:
                    file.write(data[:cut])
                paths.append((path, 'truncated'))
        for path, code in paths:
            with self.subTest(path=path):
                self.assertFails(code, probe, path)

    def test_probe_damaged(self):
        "A whole container whose video does not decode is corrupt"
        with open(self.mp4, 'rb') as file:
            data = bytearray(file.read())
        mdat = data.index(b'mdat') + 4
        end = mdat - 8 + int.from_bytes(data[mdat - 8:mdat - 4], 'big')
        data[mdat:end] = noise(end - mdat)
        path = self.path('damaged.mp4')
        with open(path, 'wb') as file:
            file.write(data)
        self.assertEqual(container_kind(path), 'iso')
        self.assertFalse(cut_short(path))
        self.assertFails('corrupt', probe, path)

    def test_probe_no_video(self):
        "A file with only sound has no video"
        path = self.path('audio.m4a')
        subprocess.run(ffmpeg.input(self.mp4).audio.output(path, c='copy')
            .compile(cmd=ffmpeg_executable(), overwrite_output=True),
            check=True, capture_output=True)
        self.assertFails('no_video', probe, path)

    def test_transcode_webm(self):
        "A VP8 + Opus WebM becomes an H.264 + AAC MP4 within the target"
        steps, calls = [], []

        def runner(args, **kwargs):
            calls.append(args)
            return subprocess.run(args, **kwargs)
        destination, plan_, result = self.transcode(self.webm,
            runner=runner, progress=lambda *step: steps.append(step))
        self.assertEqual(
            (plan_.width, plan_.height, plan_.rung), (640, 360, 0))
        output = result.probe
        self.assertEqual((output.container, output.video_codec,
                output.audio_codec, output.audio_channels,
                output.audio_rate), ('mp4', 'h264', 'aac', 1, 48000))
        self.assertEqual((output.width, output.height, round(output.fps)),
            (640, 360, 25))
        self.assertLessEqual(output.size, 5_000_000)
        self.assertAlmostEqual(output.duration, result.source.duration,
            delta=1)
        self.assertEqual(result.attempts, 1)
        self.assertGreater(result.decode_seconds, 0)
        self.assertGreater(result.encode_seconds, 0)
        self.assertEqual([s for s, _ in steps],
            ['encode', 'verify', 'done'])
        self.assertEqual(steps[-1], ('done', 1))
        self.assertTrue(all(c[0] == ffmpeg_executable() for c in calls))
        # one video encode, a full-quality first pass, that decodes the
        # source once; the sound read apart without decoding the video
        encodes = [c for c in calls if '-pass' in c]
        self.assertEqual(len(encodes), 1)
        self.assertEqual(encodes[0][encodes[0].index('-pass') + 1], '1')
        self.assertEqual(
            encodes[0][encodes[0].index('-fastfirstpass') + 1], '0')
        self.assertEqual(result.preset, choose_preset(plan_))
        sound = [c for c in calls if 'pcm_s16le' in c]
        self.assertEqual(len(sound), 1)
        self.assertNotIn('libx264', sound[0])
        self.assertIn('+faststart', calls[-1])
        with open(destination, 'rb') as file:
            head = file.read(4096)
        # +faststart: the index comes before the media data
        self.assertEqual(head[4:8], b'ftyp')
        self.assertLess(head.index(b'moov'), 100)

    def test_transcode_mp4(self):
        "An H.264 + AAC MP4 is re-encoded within the target, looking alike"
        destination, plan_, result = self.transcode(self.mp4)
        self.assertEqual((result.probe.video_codec, result.probe.audio_codec),
            ('h264', 'aac'))
        self.assertLessEqual(result.probe.size, 5_000_000)
        quality = ssim_psnr(self.mp4, destination, plan_.width,
            plan_.height, fps=plan_.fps)
        self.assertGreater(quality.ssim, 0.9)
        self.assertGreater(quality.psnr, 25)

    def test_transcode_no_audio(self):
        "A recording without sound gives an MP4 without audio track"
        source = Path(generate_sample(self.path('mute.mp4'), 4, 320, 240,
                audio=False))
        source_probe = probe(source)
        self.assertFalse(source_probe.has_audio)
        # Even planned with audio, and with paths as Path objects
        result = transcode(source, Path(self.workdir, 'out.mp4'),
            plan(source_probe.duration, width=320, height=240),
            Path(self.workdir), source_probe=source_probe)
        self.assertIsNone(result.probe.audio_codec)
        self.assertEqual(result.audio_bitrate, 0)
        self.assertEqual(os.listdir(self.workdir), ['out.mp4'])

    def test_transcode_short_audio(self):
        "Audio stopping early is padded with silence to the full length"
        source = generate_sample(self.path('short.webm'), 4, 320, 240,
            codec='vp8', audio_seconds=1.5)
        destination, _, _ = self.transcode(source)
        with av.open(destination) as container:
            audio = container.streams.audio[0]
            self.assertAlmostEqual(
                float(audio.duration * audio.time_base), 4, delta=0.1)

    def test_transcode_vfr(self):
        "Variable frame rate input comes out at the constant planned rate"
        source = generate_sample(self.path('vfr.mp4'), 4, 320, 240,
            vfr=True)
        self.assertAlmostEqual(probe(source).fps, 20, delta=0.5)
        destination, plan_, result = self.transcode(source)
        with av.open(destination) as container:
            video = container.streams.video[0]
            self.assertEqual(video.frames, 4 * plan_.fps)
        self.assertAlmostEqual(result.probe.fps, plan_.fps, places=3)

    def test_transcode_overshoot(self):
        "An overshooting encode is redone with a lower budget"
        bitrates = []

        def runner(args, **kwargs):
            if '-pass' in args:
                index = args.index('-b:v') + 1
                bitrates.append((args[args.index('-pass') + 1],
                        int(args[index])))
                if len(bitrates) == 1:
                    args = list(args)
                    args[index] = str(4 * int(args[index]))
            return subprocess.run(args, **kwargs)
        source_probe = probe(self.mp4)
        plan_ = plan(source_probe.duration, target_size=200_000,
            width=source_probe.width, height=source_probe.height)
        _, _, result = self.transcode(self.mp4, plan_, runner=runner,
            preset='veryfast')
        self.assertEqual(result.attempts, 2)
        # the retry is a second pass, on the first pass's statistics
        self.assertEqual([p for p, _ in bitrates], ['1', '2'])
        self.assertLess(bitrates[1][1], bitrates[0][1])
        self.assertEqual(result.video_bitrate, bitrates[1][1])
        self.assertLessEqual(result.probe.size, 200_000)

    def test_transcode_audio_over_allowance(self):
        "AAC over its allowance is re-encoded lower from the kept PCM"
        asked = []

        def runner(args, **kwargs):
            if '-b:a' in args:
                index = args.index('-b:a') + 1
                asked.append(int(args[index]))
                if len(asked) == 1:
                    # the encoder lands far above the rate asked
                    args = list(args)
                    args[index] = str(4 * int(args[index]))
            return subprocess.run(args, **kwargs)
        source = generate_sample(self.path('speech.mp4'), 20, 320, 240)
        _, plan_, result = self.transcode(source, runner=runner)
        self.assertEqual(asked[0], plan_.audio_bitrate)
        self.assertGreaterEqual(len(asked), 2)
        self.assertLess(asked[1], asked[0])
        self.assertEqual(result.audio_bitrate, asked[-1])
        self.assertLessEqual(result.probe.size, plan_.target_size)

    def test_transcode_overshoot_gives_up(self):
        "An encode still too large after the attempts fails, leaving nothing"
        def runner(args, **kwargs):
            if '-pass' in args:
                args = list(args)
                args[args.index('-b:v') + 1] = '2000000'
            return subprocess.run(args, **kwargs)
        source_probe = probe(self.mp4)
        plan_ = plan(source_probe.duration, target_size=200_000,
            width=source_probe.width, height=source_probe.height)
        exception = self.assertFails('overshoot', self.transcode, self.mp4,
            plan_, runner=runner, preset='ultrafast', max_attempts=2)
        self.assertGreater(exception.params['size'], 200_000)
        self.assertEqual(os.listdir(os.path.join(self.workdir, 'work')), [])
        self.assertFalse(os.path.exists(os.path.join(self.workdir, 'out.mp4')))

    def test_probe_continuity(self):
        "Timestamp jumps and backward steps are found with their position"
        first = generate_recording(self.path('take1.mp4'), 4, 160, 96,
            fps=15)
        second = generate_recording(self.path('take2.mp4'), 3, 160, 96,
            fps=15)
        self.assertEqual(probe(first).discontinuities, ())
        gapped = probe(join_takes(first, second, self.path('gap.mp4'),
                gap=2400))
        self.assertEqual(
            sorted((d.stream, d.kind) for d in gapped.discontinuities),
            [('audio', 'jump'), ('video', 'jump')])
        for found in gapped.discontinuities:
            self.assertAlmostEqual(found.position, 4, delta=0.1)
            self.assertAlmostEqual(found.seconds, 2400, delta=0.2)
        # the frame rate of the content, not an average over the gap
        self.assertAlmostEqual(gapped.fps, 15, delta=0.1)
        self.assertAlmostEqual(gapped.duration, 2407, delta=0.2)
        self.assertEqual(plan(gapped.duration, width=gapped.width,
                height=gapped.height, fps=gapped.fps).fps, 5)
        self.assertEqual(gapped.repeats(), [
                (d.position, d.position + d.seconds)
                for d in gapped.discontinuities if d.stream == 'video'])
        joined = probe(join_takes(first, second, self.path('joined.ts')))
        self.assertEqual(joined.container, 'mpegts')
        self.assertEqual(
            sorted((d.stream, d.kind) for d in joined.discontinuities),
            [('audio', 'backward'), ('video', 'backward')])
        for found in joined.discontinuities:
            self.assertAlmostEqual(found.position, 4, delta=0.1)
            self.assertAlmostEqual(found.seconds, -4, delta=0.1)
        self.assertAlmostEqual(joined.fps, 15, delta=0.1)
        silent = probe(join_takes(first, second, self.path('video-gap.mp4'),
                gap=8, audio_gap=0))
        self.assertEqual([(d.stream, d.kind) for d in silent.discontinuities],
            [('video', 'jump')])
        self.assertAlmostEqual(silent.video_seconds, 15, delta=0.2)
        self.assertAlmostEqual(silent.audio_seconds, 7, delta=0.2)
        # what cannot be seen: a demuxer that makes the timestamps go on
        concatenated = probe(concat_takes(first, second,
                self.path('concat.mp4')))
        self.assertEqual(concatenated.discontinuities, ())
        self.assertAlmostEqual(concatenated.duration, 7, delta=0.1)

    def test_probe_low_rate_not_jumps(self):
        "A source at 1 fps steps by a second without jumping"
        source = generate_recording(self.path('slow.mp4'), 6, 160, 96, fps=1)
        result = probe(source)
        self.assertEqual(result.discontinuities, ())
        self.assertAlmostEqual(result.fps, 1, delta=0.01)

    def test_loop_recording(self):
        "A clip looped by stream copy is long and continuous"
        clip = generate_recording(self.path('clip.mp4'), 2, 160, 96, fps=10)
        result = probe(loop_recording(clip, self.path('looped.mp4'), 9))
        self.assertAlmostEqual(result.duration, 9, delta=0.2)
        self.assertEqual(result.discontinuities, ())

    def budget_plan(self, source_probe):
        "A long recording's rung for source_probe, undershooting at will"
        long_plan = plan(3000, width=source_probe.width,
            height=source_probe.height, fps=source_probe.fps)
        short = dataclasses.replace(long_plan, duration=source_probe.duration)
        return dataclasses.replace(short,
            target_size=estimated_size(short) * 3)

    def test_transcode_budget_pass(self):
        "A first pass far under the target is encoded again to spend it"
        commands = []

        def runner(args, **kwargs):
            commands.append(args)
            return subprocess.run(args, **kwargs)
        source_probe = probe(self.mp4)
        plan_ = self.budget_plan(source_probe)
        self.assertLessEqual(plan_.pixel_rate, INTERMEDIATE_MAX_PIXELS)
        _, _, result = self.transcode(self.mp4, plan_, runner=runner)
        self.assertEqual(result.attempts, 2)
        self.assertTrue(result.budget_pass)
        self.assertLess(result.first_size,
            plan_.target_size * (1 - BUDGET_UNDERSHOOT))
        self.assertGreater(result.probe.size, result.first_size)
        self.assertLessEqual(result.probe.size, plan_.target_size)
        self.assertGreater(result.budget_bitrate, plan_.video_bitrate)
        self.assertEqual(result.video_bitrate, result.budget_bitrate)
        encodes = [args for args in commands if '-pass' in args]
        self.assertEqual([a[a.index('-pass') + 1] for a in encodes],
            ['1', '2'])
        # the second pass reads the scaled video the first kept, not the
        # source
        self.assertIn('scaled.mkv', ' '.join(encodes[0]))
        self.assertTrue(encodes[1][encodes[1].index('-i') + 1].endswith(
                'scaled.mkv'))

    def test_transcode_budget_pass_too_large(self):
        "A budget pass that does not fit leaves the first output"
        def runner(args, **kwargs):
            if '-pass' in args and args[args.index('-pass') + 1] == '2':
                args = list(args)
                args[args.index('-b:v') + 1] = '3000000'
            return subprocess.run(args, **kwargs)
        source_probe = probe(self.mp4)
        plan_ = self.budget_plan(source_probe)
        _, _, result = self.transcode(self.mp4, plan_, runner=runner)
        self.assertEqual(result.attempts, 2)
        self.assertFalse(result.budget_pass)
        self.assertTrue(result.budget_bitrate)
        self.assertEqual(result.probe.size, result.first_size)
        self.assertLessEqual(result.probe.size, plan_.target_size)

    def test_transcode_no_budget_pass_when_capped(self):
        "A short recording capped at MAX_BPP is not encoded again"
        _, plan_, result = self.transcode(self.mp4)
        self.assertEqual(plan_.spends(10 ** 9), plan_.video_bitrate)
        self.assertEqual(result.attempts, 1)
        self.assertFalse(result.budget_pass)
        self.assertEqual(result.budget_bitrate, 0)

    def test_transcode_gap(self):
        "A source with a timestamp jump keeps its timeline in the output"
        first = generate_recording(self.path('g1.mp4'), 3, 160, 96, fps=10)
        second = generate_recording(self.path('g2.mp4'), 2, 160, 96, fps=10)
        source = join_takes(first, second, self.path('gapped.mp4'), gap=10)
        source_probe = probe(source)
        plan_ = plan(source_probe.duration, width=source_probe.width,
            height=source_probe.height, fps=source_probe.fps)
        self.assertEqual(plan_.fps, 10)
        _, _, result = self.transcode(source, plan_)
        self.assertAlmostEqual(result.probe.duration, 15, delta=0.3)
        self.assertEqual(len(result.source.repeats()), 1)

    def test_transcode_failed(self):
        "A failing ffmpeg raises transcode_failed with its stderr's tail"
        stderr = b''.join(b'line %d\n' % i for i in range(100)) + b'boom'
        exception = self.assertFails('transcode_failed', self.transcode,
            self.mp4, runner=_fake_runner(1, stderr))
        self.assertTrue(exception.params['stderr'].endswith('boom'))
        self.assertNotIn('line 50', exception.params['stderr'])
        self.assertIn(exception.params['step'], {'audio', 'encode'})
        self.assertEqual(os.listdir(os.path.join(self.workdir, 'work')), [])

    def test_transcode_corrupt(self):
        "Corrupt input fails before any work and leaves nothing behind"
        random = self.path('random.mp4')
        with open(random, 'wb') as file:
            file.write(noise(50_000))
        truncated = self.path('half.mp4')
        with open(self.mp4, 'rb') as source, open(truncated, 'wb') as file:
            file.write(source.read(os.path.getsize(self.mp4) // 2))
        for path, code in [(random, 'not_video'), (truncated, 'truncated')]:
            with self.subTest(path=path):
                workdir = tempfile.mkdtemp(dir=self.workdir)
                destination = os.path.join(self.workdir, 'out.mp4')
                with self.assertRaises(MediaError) as cm:
                    transcode(path, destination, plan(4), workdir)
                self.assertEqual(cm.exception.code, code)
                self.assertEqual(os.listdir(workdir), [])
                self.assertFalse(os.path.exists(destination))

    def test_verify(self):
        "The verifier accepts a matching output and refuses any mismatch"
        source_probe = probe(self.mp4)
        plan_ = plan(source_probe.duration, width=320, height=240)
        self.assertEqual(verify(source_probe, self.mp4, plan_),
            source_probe)
        for output, source, plan_of_test, problem in [
                (self.webm, source_probe, plan_, 'container'),
                (self.mp4, dataclasses.replace(source_probe, duration=10),
                    plan_, 'duration'),
                (self.mp4, source_probe,
                    dataclasses.replace(plan_, width=640), 'size'),
                (self.mp4, dataclasses.replace(source_probe,
                        audio_codec=None), plan_, 'audio_codec'),
                ]:
            with self.subTest(problem=problem):
                exception = self.assertFails('invalid_output', verify,
                    source, output, plan_of_test)
                self.assertIn(problem, exception.params)
        self.assertFails('overshoot', verify, source_probe, self.mp4,
            dataclasses.replace(plan_, target_size=1000))

    def test_ssim_psnr(self):
        "SSIM and PSNR are read from ffmpeg's summary lines"
        quality = ssim_psnr(self.mp4, self.mp4, 320, 240)
        self.assertEqual((quality.ssim, quality.psnr), (1.0, math.inf))
        stderr = (b'[Parsed_ssim_4 @ 0x1] SSIM Y:0.97 (15.2) U:0.98 (17.0) '
            b'V:0.98 (17.1) All:0.975123 (16.0)\n'
            b'[Parsed_psnr_5 @ 0x2] PSNR y:38.1 u:42.0 v:42.2 '
            b'average:39.250000 min:35.0 max:44.0\n')
        quality = ssim_psnr('a.mp4', 'b.mp4', 320, 240,
            runner=_fake_runner(0, stderr))
        self.assertEqual((quality.ssim, quality.psnr), (0.975123, 39.25))
        self.assertFails('ffmpeg_failed', ssim_psnr, 'a.mp4', 'b.mp4', 320,
            240, runner=_fake_runner(0, b'nothing'))

    def test_generate_deterministic(self):
        "Generated samples are byte for byte reproducible"
        for codec in ['h264', 'vp8']:
            with self.subTest(codec=codec):
                first, second = (generate_sample(self.path(f'{codec}{i}'), 1,
                        160, 120, codec=codec) for i in range(2))
                with open(first, 'rb') as a, open(second, 'rb') as b:
                    self.assertEqual(a.read(), b.read())



class ContinuityListTestCase(unittest.TestCase):
    "Test which breaks the probe lists when there are too many"

    def test_most_severe_listed(self):
        "Past MAX_DISCONTINUITIES the largest breaks are listed, in order"
        from dualrec.media import MAX_DISCONTINUITIES, _Continuity
        continuity = _Continuity()
        dts = 0.0
        # many 0.6 s stutters of a 30 fps stream, then one 40 s jump
        for index in range(MAX_DISCONTINUITIES + 20):
            for _ in range(30):
                dts += 1 / 30
                continuity.step('video', dts)
            dts += 0.6
            continuity.step('video', dts)
        dts += 40
        continuity.step('video', dts)
        found = continuity.found(0.0)
        self.assertEqual(continuity.count, MAX_DISCONTINUITIES + 21)
        self.assertEqual(len(found), MAX_DISCONTINUITIES)
        self.assertAlmostEqual(max(f.seconds for f in found), 40, places=1)
        positions = [f.position for f in found]
        self.assertEqual(positions, sorted(positions))
