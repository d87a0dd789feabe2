# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Generators for tests and benchmarks: never imported by production code."""
import math
import os
import subprocess

import av
import cv2
import ffmpeg
import numpy as np

from . import media
from .media import _command, _run
from .qc.autocheck import _run_piped


# Speech-like sound: a glottal sawtooth around 140 Hz gliding in pitch,
# cut into syllables (3.3 Hz) with a 4 Hz loudness swing, then band-passed
# as a vocal tract would.
_SPEECH = ("0.5*(0.6+0.4*sin(2*PI*4*t))*gt(sin(2*PI*3.3*t)+0.3,0)"
    "*(2*mod((140+30*sin(2*PI*0.7*t))*t,1)-1)")


def _talking_scene(seconds, width, height, fps):
    """A counter seen by a webcam: a still room (wall, desk, a poster) and
    two people, each a patch of ever-changing detail that sways slowly."""
    def lavfi(source):
        return ffmpeg.input(source, f='lavfi')
    room = (lavfi(f'color=c=0x4a5560:s={width}x{height}:r={fps}'
            f':d={seconds}')
        .drawbox(0, int(height * 0.62), width, height, '0x6b5a48', t='fill')
        .drawbox(int(width * 0.05), int(height * 0.08), int(width * 0.2),
            int(height * 0.3), '0x9aa8b4', t='fill')
        .filter('drawgrid', width=int(width * 0.05),
            height=int(height * 0.05), color='0x3d4650', thickness=1))
    person_w, person_h = (width // 4) & ~1, (height // 2) & ~1
    for index, (x, phase) in enumerate([(0.18, 0), (0.58, 1.7)]):
        person = lavfi(f'testsrc2=s={person_w}x{person_h}:r={fps}'
            f':d={seconds}')
        room = ffmpeg.overlay(room, person, eval='frame',
            x=f'{int(width * x)}+{width // 40}*sin(0.6*t+{phase})',
            y=f'{int(height * 0.25)}+{height // 80}*sin(0.9*t+{phase})')
    return room


def generate_sample(path, seconds, width=1280, height=720, fps=30,
        codec='h264', audio=True, runner=subprocess.run, audio_seconds=None,
        vfr=False, streamable=False, noise=4, scene='pattern'):
    """Write a deterministic test recording of seconds seconds to path.

    Video is testsrc2 (moving shapes, changing every frame: the hardest
    case), or with scene 'talking' a still room with two moving people
    (_talking_scene), with light temporal noise as a camera sensor gives;
    codec 'h264' writes MP4
    (H.264 + AAC), 'vp8' or 'vp9' write WebM (+ Opus) as MediaRecorder does.
    Audio is speech-like (see _SPEECH) in stereo at 48 kHz, lasting
    audio_seconds (default: seconds) to imitate a broken audio track.  vfr
    drops a third of the frames in bursts, keeping the timestamps, as a
    recorder short of CPU does.  streamable writes no duration nor index
    (WebM 'live', fragmented MP4), as MediaRecorder does.
    """
    if codec not in {'h264', 'vp8', 'vp9'}:
        raise ValueError(f"unknown codec {codec!r}")
    if scene == 'talking':
        video = _talking_scene(seconds, width, height, fps)
    else:
        video = ffmpeg.input(
            f'testsrc2=size={width}x{height}:rate={fps}:duration={seconds}',
            f='lavfi')
    if noise:
        video = video.filter('noise', alls=noise, allf='t', all_seed=1)
    if vfr:
        third = max(fps // 3, 1)
        video = video.filter(
            'select', f'not(between(mod(n,{fps}),{third},{2 * third - 1}))')
    streams = [video]
    options = {
        'threads': 1, 'fflags': '+bitexact', 'flags:v': '+bitexact',
        'map_metadata': -1, 'fps_mode': 'passthrough' if vfr else 'cfr',
        }
    if codec == 'h264':
        options.update({'c:v': 'libx264', 'preset': 'ultrafast', 'crf': 23,
                'pix_fmt': 'yuv420p', 'g': 2 * fps, 'f': 'mp4'})
        if streamable:
            options['movflags'] = '+frag_keyframe+empty_moov'
    else:
        options.update({
                'c:v': 'libvpx' if codec == 'vp8' else 'libvpx-vp9',
                'deadline': 'realtime', 'cpu-used': 8, 'b:v': '800k',
                'g': 2 * fps, 'f': 'webm'})
        if streamable:
            options['live'] = 1
    if audio:
        audio_seconds = seconds if audio_seconds is None else audio_seconds
        streams.append(ffmpeg.input(
                f"aevalsrc='{_SPEECH}':s=48000:d={audio_seconds}", f='lavfi')
            .filter('bandpass', f=900, width_type='h', w=1200))
        options.update({'ac': 2, 'ar': 48000, 'flags:a': '+bitexact'})
        if codec == 'h264':
            options.update({'c:a': 'aac', 'b:a': '64k'})
        else:
            options.update({'c:a': 'libopus', 'b:a': '32k'})
    _run(runner, _command(ffmpeg.output(*streams, path, **options)),
        code='ffmpeg_failed', step='generate_sample')
    return path


# Test recordings

# Where the faces sit, as shares of the width and height, and their size
# as a share of the height: salesperson, customer, a third person.
_FACE_PLACES = ((0.3125, 0.5, 0.25), (0.6875, 0.53, 0.22),
    (0.88, 0.42, 0.2))


def _draw_face(img, cx, cy, s):
    """Draw a cartoon face of width s px centred on (cx, cy) in the BGR
    picture img: skin, hair, brows, eyes, nose and mouth, which every
    frontal-face cascade of OpenCV finds from about 40 px wide."""
    cv2.ellipse(img, (cx, cy), (s // 2, int(s * 0.65)), 0, 0, 360,
        (150, 180, 215), -1)
    cv2.ellipse(img, (cx, cy - int(s * 0.45)), (s // 2, int(s * 0.25)), 0,
        180, 360, (40, 40, 50), -1)
    ey = cy - int(s * 0.12)
    for dx in (-1, 1):
        ex = cx + dx * int(s * 0.2)
        cv2.ellipse(img, (ex, ey - int(s * 0.12)),
            (int(s * 0.12), int(s * 0.03)), 0, 0, 360, (50, 50, 60), -1)
        cv2.ellipse(img, (ex, ey), (int(s * 0.09), int(s * 0.05)), 0, 0,
            360, (255, 255, 255), -1)
        cv2.circle(img, (ex, ey), int(s * 0.04), (30, 30, 30), -1)
    cv2.line(img, (cx, ey), (cx - int(s * 0.04), cy + int(s * 0.15)),
        (110, 140, 180), max(1, s // 40))
    cv2.ellipse(img, (cx, cy + int(s * 0.32)),
        (int(s * 0.16), int(s * 0.05)), 0, 0, 360, (60, 60, 150), -1)


def _room(width, height):
    "Return a counter's still background as a BGR picture."
    img = np.full((height, width, 3), (96, 85, 74), np.uint8)
    cv2.rectangle(img, (int(width * 0.04), int(height * 0.08)),
        (int(width * 0.18), int(height * 0.34)), (170, 160, 148), -1)
    cv2.rectangle(img, (int(width * 0.06), int(height * 0.11)),
        (int(width * 0.16), int(height * 0.2)), (120, 90, 60), -1)
    cv2.rectangle(img, (0, int(height * 0.8)), (width, height),
        (72, 90, 107), -1)
    return img


def _intervals(value):
    "Return value, one (start, end) or a list of them, as a list."
    if not value:
        return []
    if isinstance(value[0], (int, float)):
        return [tuple(value)]
    return [tuple(v) for v in value]


def _within(t, intervals):
    return any(start <= t < end for start, end in intervals)


def recording_frames(seconds, width=640, height=360, fps=15, faces=2,
        black=None, frozen=None, seed=1):
    """Yield the BGR frames (numpy arrays) of a generated recording.

    faces is a count (at most 3) or a list of (start, end, count) (none
    outside them);
    black and frozen are (start, end) intervals in seconds (or lists of
    them) where the picture is black (sensor noise only) or repeats the
    frame before.  Faces sway a few pixels; light noise (0-6 levels,
    cycling 16 patterns) keeps every other frame different.
    """
    background = _room(width, height)
    noise = np.random.default_rng(seed).integers(
        0, 7, (16, height, width, 3), np.uint8)
    dark = np.zeros_like(background)
    black, frozen = _intervals(black), _intervals(frozen)
    if isinstance(faces, int):
        faces = [(0, seconds, faces)]
    previous = None
    for index in range(round(seconds * fps)):
        t = index / fps
        if previous is not None and _within(t, frozen):
            yield previous
            continue
        if _within(t, black):
            frame = dark.copy()
        else:
            frame = background.copy()
            count = next((c for start, end, c in faces if start <= t < end),
                0)
            for place, (x, y, size) in enumerate(_FACE_PLACES[:count]):
                phase = 1.7 * place
                _draw_face(frame,
                    round(width * (x + 0.012 * math.sin(2.2 * t + phase))),
                    round(height * (y + 0.006 * math.sin(3.1 * t + phase))),
                    round(height * size))
        frame = cv2.subtract(cv2.add(frame, noise[index % 16]), 3)
        previous = frame
        yield frame


def generate_recording(path, seconds, width=640, height=360, fps=15,
        faces=2, silent=None, black=None, frozen=None, audio=True,
        runner=subprocess.run):
    """Write a deterministic test recording of seconds seconds to path, an
    MP4 (H.264 + mono AAC at 48 kHz), and return path.

    The picture is a counter with faces cartoon faces (recording_frames,
    where faces, black and frozen are explained) rendered here and piped
    raw to ffmpeg; the sound is speech-like (_SPEECH), silent within
    silent ((start, end) in seconds, or a list of them), none at all
    without audio.
    """
    path = os.fspath(path)
    video = ffmpeg.input('pipe:', f='rawvideo', pix_fmt='bgr24',
        s=f'{width}x{height}', framerate=fps)
    streams = [video]
    options = {
        'c:v': 'libx264', 'preset': 'ultrafast', 'crf': 23,
        'pix_fmt': 'yuv420p', 'g': 2 * fps, 'threads': 1,
        'fflags': '+bitexact', 'flags:v': '+bitexact', 'map_metadata': -1,
        'f': 'mp4',
        }
    if audio:
        gate = ''.join(f'*(1-between(t,{start},{end}))'
            for start, end in _intervals(silent))
        streams.append(ffmpeg.input(
                f"aevalsrc='{_SPEECH}{gate}':s=48000:d={seconds}",
                f='lavfi')
            .filter('bandpass', f=900, width_type='h', w=1200))
        options.update({'c:a': 'aac', 'b:a': '48k', 'ac': 1, 'ar': 48000,
                'flags:a': '+bitexact'})
    args = ffmpeg.compile(ffmpeg.output(*streams, path, **options)
        .global_args('-hide_banner', '-nostdin', '-nostats', '-loglevel',
            'error'), cmd=media.ffmpeg_executable(), overwrite_output=True)

    def feed(file):
        for frame in recording_frames(seconds, width, height, fps, faces,
                black, frozen):
            file.write(frame.data)
    _run_piped(runner, args, 'generate_recording', feed=feed)
    return path


# Joined, gapped and long inputs

def join_takes(first, second, path, gap=None, audio_gap=None):
    """Write the takes first and second (files of generate_recording or
    generate_sample, same codecs) joined into one file at path, by stream
    copy, and return path: what a recorder or an editor joining two takes
    makes.

    gap None: the two takes remuxed to MPEG-TS and concatenated byte for
    byte, as joined TS files are: the second take's timestamps start again
    from its own start, a backward step at the join.  gap s: an MP4 whose
    second take follows the first's end after a jump of gap seconds;
    audio_gap, if given, is the audio's jump instead (0: the sound goes on
    where the video jumps).
    """
    path = os.fspath(path)
    if gap is None:
        with open(path, 'wb') as output:
            for take in [first, second]:
                _run(subprocess.run, [media.ffmpeg_executable(),
                        '-hide_banner', '-nostdin', '-loglevel', 'error',
                        '-y', '-i', os.fspath(take), '-c', 'copy',
                        '-f', 'mpegts', path + '.part'],
                    code='ffmpeg_failed', step='join_takes')
                with open(path + '.part', 'rb') as part:
                    output.write(part.read())
                os.unlink(path + '.part')
        return path
    with av.open(os.fspath(first)) as take, av.open(os.fspath(second)) as \
            other, av.open(path, 'w', format='mp4') as output:
        streams = {}
        for stream in take.streams:
            if stream.type in {'video', 'audio'}:
                streams[stream.type] = output.add_stream_from_template(
                    stream)
        ends = {}
        for index, container in enumerate([take, other]):
            for packet in container.demux():
                kind = packet.stream.type
                if kind not in streams or packet.dts is None:
                    continue
                base = packet.stream.time_base
                if index == 0:
                    end = packet.pts + (packet.duration or 0)
                    ends[kind] = max(ends.get(kind, 0), end * base)
                else:
                    jump = gap if kind == 'video' or audio_gap is None \
                        else audio_gap
                    # 50 ms: the AAC priming of the second take
                    offset = round(
                        (max(ends.values()) + jump + 0.05) / base)
                    packet.pts += offset
                    packet.dts += offset
                packet.stream = streams[kind]
                output.mux(packet)
    return path


def concat_takes(first, second, path):
    """Write first and second joined by ffmpeg's concat demuxer, which
    makes the timestamps continuous (the splice leaves no trace in the
    streams), into the MP4 path; return path."""
    path = os.fspath(path)
    listing = path + '.txt'
    with open(listing, 'w') as file:
        for take in [first, second]:
            file.write(f"file '{os.path.abspath(take)}'\n")
    try:
        _run(subprocess.run, [media.ffmpeg_executable(), '-hide_banner',
                '-nostdin', '-loglevel', 'error', '-y', '-f', 'concat',
                '-safe', '0', '-i', listing, '-c', 'copy', '-f', 'mp4',
                path], code='ffmpeg_failed', step='concat_takes')
    finally:
        os.unlink(listing)
    return path


def loop_recording(clip, path, seconds, runner=subprocess.run):
    """Write clip repeated to seconds seconds at path by stream copy (a long
    input for the cost of rendering clip once) and return path."""
    path = os.fspath(path)
    _run(runner, [media.ffmpeg_executable(), '-hide_banner', '-nostdin',
            '-loglevel', 'error', '-y', '-stream_loop', '-1', '-i',
            os.fspath(clip), '-t', f'{seconds:.3f}', '-c', 'copy',
            '-map_metadata', '-1', path],
        code='ffmpeg_failed', step='loop_recording')
    return path
