# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Automatic checks of a recording: timeline, sound, picture and faces.

Eight checks (CODES), each giving a CheckResult: 'duration' and 'timeline'
from the script nodes and the node timeline the recorder kept (no I/O);
'continuity' from the source's probe (its timestamp jumps and backward
steps, sound and picture of different lengths) and the timeline against
the media's duration (no I/O);
'silence', 'loudness', 'black' and 'freeze' from one ffmpeg pass over the
file (silencedetect, ebur128, blackdetect, freezedetect); 'faces' from
OpenCV's Haar cascade on frames sampled by ffmpeg.  They run on the
compressed recording, which for long recordings is as small as 256x144 at
3-5 fps: the face detector works on frames upscaled to 360 lines.

Units: times in seconds from the start of the file, levels in dBFS,
loudness in LUFS, shares as ratios 0-1.

No trytond import: ffmpeg runs through an injected ``runner`` (the
``subprocess.run`` signature).  ffmpeg failures raise media.MediaError
('ffmpeg_failed').
"""
import dataclasses
import os
import re
import subprocess
import threading

import cv2
import numpy as np

from .. import media

RESULTS = ('pass', 'warn', 'fail')
CODES = ('duration', 'timeline', 'continuity', 'silence', 'loudness',
    'black', 'freeze', 'faces')
RULES = {
    'circ54_art8_continuous':
        "CIRC [2017] No. 54 Art. 8: true, complete and continuous",
    'circ54_art8_identifiable':
        "CIRC [2017] No. 54 Art. 8: faces and speech clearly identifiable",
    'circ54_art7_content':
        "CIRC [2017] No. 54 Art. 7: every required content recorded",
    }
# freezedetect's noise tolerance (dB, ffmpeg's default): a talking person
# stays above it even at the lowest rung (-55 dB already finds half-second
# "freezes" in a 256x144 3 fps output).
FREEZE_NOISE_DB = -60
# A frozen camera still flickers at the encoders' keyframes (a re-encoded
# picture differs by ~-52 dB), which ends freezedetect's stretch and starts
# another: it reports stretches from FREEZE_WINDOW s on, and the ones
# following each other within FREEZE_JOIN s are joined before
# freeze_min_seconds applies.
FREEZE_WINDOW = 0.5
FREEZE_JOIN = 0.4
# blackdetect's (ffmpeg's defaults): a pixel is black under 10% of the
# luma range, a picture when 98% of its pixels are.
BLACK_PIXEL = 0.10
BLACK_PICTURE = 0.98
# Frames with fewer lines are upscaled to this many before face detection:
# the cascade needs faces of about 40 px, which a 320x180 counter shot has
# at half that size.
FACE_LINES = 360


@dataclasses.dataclass(frozen=True)
class Thresholds:
    "The limits of the checks, defaults for a counter recording."
    # s allowed between a node's confirmation and the next node's start
    timeline_gap: float = 30.0
    # s: a longer forward jump of the source's timestamps fails continuity
    # (shorter ones are a recorder short of CPU)
    continuity_jump_seconds: float = 2.0
    # s: the source's sound and picture may differ in length by this much
    continuity_av_seconds: float = 2.0
    # s: the recorder's timeline (first node start to last confirmation)
    # and the media may differ in length by this much
    continuity_timeline_seconds: float = 60.0
    # dBFS under which sound counts as silence
    silence_noise_db: float = -45.0
    # s: shorter pauses are speech
    silence_min_seconds: float = 3.0
    # share (ratio) of the duration silent from which the check warns
    silence_warn_ratio: float = 0.3
    # share (ratio) of the duration silent from which the check fails
    silence_fail_ratio: float = 0.6
    # s: one silent stretch this long fails (from half of it, warns)
    silence_fail_seconds: float = 30.0
    # LUFS: integrated loudness under this warns, 10 LU further down fails
    loudness_min_lufs: float = -40.0
    # s: black stretches shorter than this are ignored, longer ones fail
    black_min_seconds: float = 2.0
    # s: frozen stretches this long fail
    freeze_min_seconds: float = 5.0
    # ratio of the sampled frames with >= 2 faces under which the check
    # fails (warns within 0.1 above)
    face_min_share: float = 0.8
    # s: a longer stretch with fewer than 2 faces fails
    face_max_gap_seconds: float = 10.0
    # frames per second sampled for faces
    face_sample_fps: float = 1.0


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    value is the measured figure and threshold the limit it was held to,
    both in unit ('s', 'ratio', 'LUFS', 'count'; None when nothing could be
    measured); rule a key of RULES; details JSON-serialisable specifics
    (segments as [[start, end], ...] in seconds, node names...).
    """
    code: str
    result: str
    value: float | None
    threshold: float | None
    unit: str
    rule: str
    details: dict


def worst(results):
    "Return the worst result of results: 'fail', 'warn' or 'pass'."
    found = {r.result for r in results}
    return next((r for r in reversed(RESULTS) if r in found), 'pass')


def _round(value, digits=3):
    return None if value is None else round(float(value), digits)


def _segments(segments):
    return [[_round(start), _round(end)] for start, end in segments]


# Timeline

def check_timeline(nodes, timeline, duration, thresholds=Thresholds()):
    """Return the 'duration' and 'timeline' CheckResults.

    nodes are dicts {'id', 'sequence', 'name', 'min_seconds', 'required'};
    timeline entries dicts {'node' (a node id), 'started_at',
    'confirmed_at'} with datetimes or None; duration in seconds (None:
    unknown, which fails).  A node with several entries is judged on its
    last complete one (the recorder keeps retakes).

    'duration' fails when duration is under the sum of the nodes'
    min_seconds.  'timeline' fails when a required node has no entry
    ('missing'), lacks its start or confirmation ('unconfirmed'), or a node
    starts before the previous one in sequence is confirmed
    ('out_of_order'); it warns when more than timeline_gap seconds pass
    between a confirmation and the next node's start ('gap').  Its value is
    the number of problems, each listed in details['problems'].
    """
    nodes = sorted(nodes, key=lambda n: (n['sequence'], n['id']))
    minimum = float(sum(n.get('min_seconds') or 0 for n in nodes))
    results = [CheckResult('duration',
            'pass' if duration is not None and duration >= minimum
            else 'fail',
            _round(duration), _round(minimum), 's', 'circ54_art7_content',
            {'nodes': len(nodes)})]

    entries = {}
    for entry in timeline:
        complete = bool(entry.get('started_at') and entry.get('confirmed_at'))
        previous = entries.get(entry.get('node'))
        if previous is None or complete or not previous[0]:
            entries[entry.get('node')] = (complete, entry)
    problems = []
    done = []
    for node in nodes:
        complete, entry = entries.get(node['id'], (False, None))
        if complete:
            done.append((node, entry))
        elif node.get('required'):
            problems.append({
                    'problem': 'missing' if entry is None else 'unconfirmed',
                    'node': node['name']})
    for (before, first), (node, entry) in zip(done, done[1:]):
        if entry['started_at'] < first['confirmed_at']:
            problems.append({'problem': 'out_of_order', 'node': node['name'],
                    'after': before['name']})
            continue
        gap = (entry['started_at'] - first['confirmed_at']).total_seconds()
        if gap > thresholds.timeline_gap:
            problems.append({'problem': 'gap', 'node': node['name'],
                    'after': before['name'], 'seconds': _round(gap)})
    if any(p['problem'] != 'gap' for p in problems):
        result = 'fail'
    else:
        result = 'warn' if problems else 'pass'
    results.append(CheckResult('timeline', result, float(len(problems)),
            0.0, 'count', 'circ54_art8_continuous', {'problems': problems}))
    return results


# Continuity

def _timeline_seconds(timeline):
    """Return the seconds from the first node's start to the last node's
    confirmation of timeline (check_timeline's entries), None if unknown."""
    starts = [e['started_at'] for e in timeline if e.get('started_at')]
    ends = [e['confirmed_at'] for e in timeline if e.get('confirmed_at')]
    if not starts or not ends or max(ends) < min(starts):
        return None
    return (max(ends) - min(starts)).total_seconds()


def check_continuity(source, timeline, duration, thresholds=Thresholds()):
    """Return the 'continuity' CheckResult of a recording.

    source is the media.Probe of the uploaded file (None: not probed, only
    the timeline is compared), timeline check_timeline's entries, duration
    the media's in seconds.  Each problem of details['problems'] fails the
    check: a forward timestamp jump of the video or the audio over
    continuity_jump_seconds ('jump', with its stream, position and
    seconds), any backward step ('backward': takes joined together),
    sound and picture differing in length by more than
    continuity_av_seconds ('av_mismatch'), the timeline and the media
    differing by more than continuity_timeline_seconds ('timeline_gap':
    the recorder's clock ran while the media did not, or the other way).
    Positions are seconds from the start of the file.  value is the number
    of problems (the probe lists at most media.MAX_DISCONTINUITIES breaks:
    details['unlisted'] counts the others).

    A splice re-encoded (or joined by a demuxer that makes the timestamps
    continuous) into streams of equal lengths and matching the timeline
    leaves nothing here to find.
    """
    t = thresholds
    problems = []
    details = {}
    if source is not None:
        listed_failing = 0
        for found in source.discontinuities:
            if found.kind == 'backward' or (
                    found.seconds > t.continuity_jump_seconds):
                listed_failing += 1
                problems.append({'problem': found.kind,
                        'stream': found.stream,
                        'position': _round(found.position),
                        'seconds': _round(found.seconds)})
        details['unlisted'] = (source.discontinuity_count
            - len(source.discontinuities))
        # the probe lists the most severe breaks: the unlisted ones are no
        # larger than the smallest listed one, so they may fail only when
        # every listed one fails
        if details['unlisted'] and (
                listed_failing == len(source.discontinuities)):
            problems.append({'problem': 'unlisted',
                    'count': details['unlisted']})
        if source.has_audio and source.audio_seconds and abs(
                source.video_seconds - source.audio_seconds
                ) > t.continuity_av_seconds:
            problems.append({'problem': 'av_mismatch',
                    'position': _round(min(source.video_seconds,
                            source.audio_seconds)),
                    'video_seconds': _round(source.video_seconds),
                    'audio_seconds': _round(source.audio_seconds),
                    'seconds': _round(
                        source.audio_seconds - source.video_seconds)})
    else:
        details['source'] = 'not probed'
    span = _timeline_seconds(timeline)
    details['timeline_seconds'] = _round(span)
    details['media_seconds'] = _round(duration)
    if (span is not None and duration is not None
            and abs(duration - span) > t.continuity_timeline_seconds):
        problems.append({'problem': 'timeline_gap',
                'position': _round(min(span, duration)),
                'timeline_seconds': _round(span),
                'media_seconds': _round(duration),
                'seconds': _round(duration - span)})
    details['problems'] = problems
    return CheckResult('continuity', 'fail' if problems else 'pass',
        float(len(problems)), 0.0, 'count', 'circ54_art8_continuous',
        details)


# Sound and picture

@dataclasses.dataclass(frozen=True)
class FilterLog:
    """What ffmpeg's detection filters found: segments as [(start, end)] in
    seconds, integrated loudness in LUFS (None if not measured), duration
    in seconds and whether the file has an audio stream."""
    duration: float | None
    audio: bool
    silence: list
    black: list
    freeze: list
    loudness: float | None


def filter_command(path, thresholds=Thresholds()):
    "Return the ffmpeg arguments of the detection pass over path."
    return [media.ffmpeg_executable(), '-hide_banner', '-nostdin',
        '-nostats', '-loglevel', 'info', '-i', os.fspath(path),
        '-af', (f'silencedetect=noise={thresholds.silence_noise_db}dB'
            f':d={thresholds.silence_min_seconds},ebur128=framelog=quiet'),
        '-vf', (f'blackdetect=d={thresholds.black_min_seconds}'
            f':pic_th={BLACK_PICTURE}:pix_th={BLACK_PIXEL},'
            f'freezedetect=n={FREEZE_NOISE_DB}dB'
            f':d={FREEZE_WINDOW}'),
        '-f', 'null', '-']


_NUMBER = r'(-?[0-9.]+(?:e[-+]?[0-9]+)?|-?inf|nan)'
_EVENTS = {
    'silence': (re.compile(r'silence_start: ' + _NUMBER),
        re.compile(r'silence_end: ' + _NUMBER)),
    'freeze': (re.compile(r'freezedetect\.freeze_start: ' + _NUMBER),
        re.compile(r'freezedetect\.freeze_end: ' + _NUMBER)),
    }
_BLACK = re.compile(r'black_start:\s*' + _NUMBER + r'\s+black_end:\s*'
    + _NUMBER)
_DURATION = re.compile(r'^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)', re.M)
_INPUT_AUDIO = re.compile(r'^\s*Stream #0:\d+.*: Audio:', re.M)
_LOUDNESS = re.compile(r'Integrated loudness:\s*I:\s*' + _NUMBER + ' LUFS')


def parse_filter_log(text, duration=None):
    """Return the FilterLog of the stderr text of filter_command.

    duration (s) closes segments still open at the end of the file; None
    takes it from the input's 'Duration:' line (or the last segment event).
    Segments are clipped to [0, duration].  Whether there is audio is read
    from the input's stream list (the part before 'Stream mapping').
    """
    header = text.split('Stream mapping:')[0]
    if duration is None:
        match = _DURATION.search(header)
        if match:
            hours, minutes, seconds = match.groups()
            duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    found = {}
    for kind, (start_re, end_re) in _EVENTS.items():
        segments, start = [], None
        for line in text.splitlines():
            match = start_re.search(line)
            if match:
                start = float(match.group(1))
                continue
            match = end_re.search(line)
            if match and start is not None:
                segments.append((start, float(match.group(1))))
                start = None
        if start is not None:
            segments.append((start, None))
        found[kind] = segments
    found['black'] = [(float(s), float(e)) for s, e in _BLACK.findall(text)]
    ends = [t for segments in found.values() for s in segments for t in s
        if t is not None]
    if duration is None:
        duration = max(ends, default=0.0)

    def close(segments):
        closed = []
        for start, end in segments:
            end = duration if end is None else min(end, duration)
            start = max(0.0, start)
            if end > start:
                closed.append((start, end))
        return closed
    loudness = _LOUDNESS.search(text)
    return FilterLog(duration=duration,
        audio=bool(_INPUT_AUDIO.search(header)),
        silence=close(found['silence']), black=close(found['black']),
        freeze=close(found['freeze']),
        loudness=float(loudness.group(1)) if loudness else None)


def _subtract(segments, others):
    "Return segments less the parts covered by others (both [(start, end)])."
    result = []
    for start, end in segments:
        pieces = [(start, end)]
        for other_start, other_end in others:
            pieces = [piece for a, b in pieces for piece in
                ((a, min(b, other_start)), (max(a, other_end), b))
                if piece[1] > piece[0]]
        result.extend(pieces)
    return result


def _join(segments, tolerance):
    "Return segments with those less than tolerance s apart joined."
    joined = []
    for start, end in sorted(segments):
        if joined and start - joined[-1][1] <= tolerance:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


def _longest(segments):
    return max((end - start for start, end in segments), default=0.0)


def media_results(log, thresholds=Thresholds(), repeats=()):
    """Return the 'silence', 'loudness', 'black' and 'freeze' CheckResults
    of the FilterLog log.

    silence fails from silence_fail_ratio of the duration silent or one
    stretch of silence_fail_seconds, warns from silence_warn_ratio or half
    that stretch; value and threshold are the ratio (or the stretch, in s,
    when it decides).  loudness warns under loudness_min_lufs and fails 10
    LU under it (or unmeasured).  Without audio both fail ({'reason': 'no_audio'}).  Any
    black stretch fails (blackdetect already ignores the short ones), and
    any frozen stretch (freezedetect's, joined across keyframe flicker,
    FREEZE_JOIN) that is not black (a black picture is frozen too: it is
    the black check's) nor a frame the encoding repeated (repeats, [(start,
    end)] s: where the source has no frame, media.Probe.repeats; the
    continuity check's) of freeze_min_seconds fails; value is the longest
    stretch in s.
    """
    t = thresholds
    duration = log.duration or 0.0
    if not log.audio:
        no_audio = {'reason': 'no_audio'}
        results = [
            CheckResult('silence', 'fail', _round(duration),
                _round(t.silence_fail_seconds), 's',
                'circ54_art8_continuous', no_audio),
            CheckResult('loudness', 'fail', None, _round(t.loudness_min_lufs),
                'LUFS', 'circ54_art8_identifiable', no_audio),
            ]
    else:
        silent = sum(end - start for start, end in log.silence)
        ratio = silent / duration if duration else 1.0
        longest = _longest(log.silence)
        details = {'segments': _segments(log.silence),
            'silent_seconds': _round(silent),
            'longest_seconds': _round(longest)}
        if longest >= t.silence_fail_seconds and ratio < t.silence_fail_ratio:
            silence = ('fail', longest, t.silence_fail_seconds, 's')
        elif ratio >= t.silence_fail_ratio:
            silence = ('fail', ratio, t.silence_fail_ratio, 'ratio')
        elif (longest >= t.silence_fail_seconds / 2
                and ratio < t.silence_warn_ratio):
            silence = ('warn', longest, t.silence_fail_seconds / 2, 's')
        elif ratio >= t.silence_warn_ratio:
            silence = ('warn', ratio, t.silence_warn_ratio, 'ratio')
        else:
            silence = ('pass', ratio, t.silence_warn_ratio, 'ratio')
        result, value, threshold, unit = silence
        loudness = log.loudness
        if loudness is None or loudness < t.loudness_min_lufs - 10:
            loud = 'fail'
        elif loudness < t.loudness_min_lufs:
            loud = 'warn'
        else:
            loud = 'pass'
        results = [
            CheckResult('silence', result, _round(value), _round(threshold),
                unit, 'circ54_art8_continuous', details),
            CheckResult('loudness', loud, _round(loudness, 1),
                _round(t.loudness_min_lufs), 'LUFS',
                'circ54_art8_identifiable', {}),
            ]
    black = [(s, e) for s, e in log.black if e - s >= t.black_min_seconds]
    results.append(CheckResult('black', 'fail' if black else 'pass',
            _round(_longest(black)), _round(t.black_min_seconds), 's',
            'circ54_art8_continuous', {'segments': _segments(black)}))
    # freezedetect ends a stretch FREEZE_WINDOW after the last change: the
    # frames around a repeated stretch belong to it
    repeated = [(start - FREEZE_JOIN, end + FREEZE_WINDOW + FREEZE_JOIN)
        for start, end in repeats]
    frozen = _subtract(_subtract(_join(log.freeze, FREEZE_JOIN), log.black),
        repeated)
    freeze = [(s, e) for s, e in frozen
        if e - s >= t.freeze_min_seconds]
    details = {'segments': _segments(freeze)}
    if repeats:
        details['repeated'] = _segments(repeats)
    results.append(CheckResult('freeze', 'fail' if freeze else 'pass',
            _round(_longest(freeze)), _round(t.freeze_min_seconds), 's',
            'circ54_art8_continuous', details))
    return results


def analyse_media(path, thresholds=Thresholds(), runner=subprocess.run,
        duration=None, repeats=()):
    """Return the 'silence', 'loudness', 'black' and 'freeze' CheckResults
    of the file at path (media_results of one filter_command pass).

    duration (s) defaults to the file's header duration; repeats are the
    stretches the encoding filled with a repeated frame (media_results).
    """
    stderr = media._run(runner, filter_command(path, thresholds),
        code='ffmpeg_failed', step='analyse_media')
    return media_results(parse_filter_log(stderr, duration), thresholds,
        repeats)


# Faces

# Of OpenCV's frontal-face cascades, alt2: like default and alt it finds
# every generated face down to the 256x144 3 fps rung, but with the widest
# margin (19+ overlapping hits per face) and, on a textured background,
# none of default's false faces nor alt's stray weak hits; and it is the
# fastest (~15 ms a 640x360 frame).
FACE_CASCADE = 'haarcascade_frontalface_alt2.xml'
# detectMultiScale's: 10% steps between scales, 4 overlapping hits to
# count as a face; faces from a tenth of the short side (36 px of 360) to
# nine tenths.
FACE_SCALE_FACTOR = 1.1
FACE_MIN_NEIGHBORS = 4
FACE_MIN_SIZE = 0.1
FACE_MAX_SIZE = 0.9
# Two boxes overlapping by this share of the smaller one are one face.
FACE_OVERLAP = 0.3


_local = threading.local()


def _cascade():
    "Return this thread's classifier (one may not detect in two at once)."
    cascade = getattr(_local, 'cascade', None)
    if cascade is None:
        cascade = _local.cascade = cv2.CascadeClassifier(
            os.path.join(cv2.data.haarcascades, FACE_CASCADE))
        if cascade.empty():
            raise RuntimeError(f"cannot load {FACE_CASCADE}")
    return cascade


def _dedupe(boxes):
    "Return boxes (x, y, w, h) without those overlapping a larger one."
    kept = []
    for x, y, w, h in sorted(boxes, key=lambda b: -b[2] * b[3]):
        for kx, ky, kw, kh in kept:
            overlap_w = min(x + w, kx + kw) - max(x, kx)
            overlap_h = min(y + h, ky + kh) - max(y, ky)
            if (overlap_w > 0 and overlap_h > 0 and overlap_w * overlap_h
                    >= FACE_OVERLAP * min(w * h, kw * kh)):
                break
        else:
            kept.append((int(x), int(y), int(w), int(h)))
    return kept


def detect_faces(gray):
    """Return the faces found in the 8-bit grey picture gray as (x, y, w, h)
    boxes (overlapping detections merged)."""
    short = min(gray.shape[:2])
    boxes = _cascade().detectMultiScale(gray,
        scaleFactor=FACE_SCALE_FACTOR, minNeighbors=FACE_MIN_NEIGHBORS,
        minSize=(round(short * FACE_MIN_SIZE),) * 2,
        maxSize=(round(short * FACE_MAX_SIZE),) * 2)
    return _dedupe(boxes)


def is_black(gray):
    "Tell whether the grey picture gray is black as blackdetect sees it."
    lit = np.count_nonzero(gray > round(255 * BLACK_PIXEL))
    return lit <= (1 - BLACK_PICTURE) * gray.size


def _detection_size(width, height):
    "Return the (width, height), both even, the faces are searched at."
    scale = max(1, FACE_LINES / min(width, height))
    return (round(width * scale / 2) * 2, round(height * scale / 2) * 2)


def _run_piped(runner, args, step, feed=None, consume=None):
    """Run args with runner while a thread writes its stdin with feed(file)
    or reads its stdout with consume(file); return its stderr as text.

    Our end of the pipe is closed once runner returns, so the thread never
    waits for an exited (or fake) ffmpeg.  Raises what the thread raised,
    else MediaError('ffmpeg_failed') when ffmpeg fails.
    """
    read_fd, write_fd = os.pipe()
    ours, theirs, mode, work = ((write_fd, read_fd, 'wb', feed) if feed
        else (read_fd, write_fd, 'rb', consume))
    errors = []

    def target():
        try:
            with open(ours, mode) as file:
                work(file)
        except BrokenPipeError:
            pass
        except BaseException as exception:
            errors.append(exception)
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        if feed:
            result = runner(args, stdin=theirs, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, check=False)
        else:
            result = runner(args, stdin=subprocess.DEVNULL, stdout=theirs,
                stderr=subprocess.PIPE, check=False)
    finally:
        os.close(theirs)
        thread.join()
    if errors:
        raise errors[0]
    stderr = result.stderr or b''
    if isinstance(stderr, bytes):
        stderr = stderr.decode('utf-8', 'replace')
    if result.returncode:
        raise media.MediaError('ffmpeg_failed', f"ffmpeg failed ({step})", {
                'step': step, 'returncode': result.returncode,
                'stderr': '\n'.join(stderr.strip().splitlines()[-20:]),
                })
    return stderr


def count_faces(path, thresholds=Thresholds(), runner=subprocess.run,
        size=None):
    """Return the number of faces of each frame sampled from path at
    thresholds.face_sample_fps (frame i at i / fps seconds), None for a
    black frame (the black check's).

    ffmpeg decodes the frames to grey at the detection size (the display
    size, size (width, height) if given, else probed; upscaled to
    FACE_LINES lines when smaller) and pipes them to the detector as they
    come: memory stays one frame whatever the length.
    """
    path = os.fspath(path)
    if size is None:
        source = media.probe(path)
        size = (source.width, source.height)
    width, height = _detection_size(*size)
    frame_bytes = width * height
    counts = []

    def consume(file):
        while True:
            data = file.read(frame_bytes)
            if len(data) < frame_bytes:
                return
            gray = np.frombuffer(data, np.uint8).reshape(height, width)
            counts.append(None if is_black(gray) else len(detect_faces(gray)))
    args = [media.ffmpeg_executable(), '-hide_banner', '-nostdin',
        '-nostats', '-loglevel', 'error', '-i', path, '-map', '0:v:0',
        '-vf', (f'fps={thresholds.face_sample_fps},'
            f'scale={width}:{height}:flags=bicubic,format=gray'),
        '-f', 'rawvideo', '-']
    _run_piped(runner, args, 'count_faces', consume=consume)
    return counts


def face_result(counts, thresholds=Thresholds()):
    """Return the 'faces' CheckResult of counts (count_faces' list).

    value is the share of the sampled frames, black ones left out, with at
    least two faces (salesperson and customer); it fails under
    face_min_share, warns within 0.1 above, and fails when the longest run
    of frames with fewer than two lasts over face_max_gap_seconds (a black
    frame ends a run).  No frame to judge fails.
    """
    t = thresholds
    step = 1 / t.face_sample_fps
    judged = [c for c in counts if c is not None]
    with_two = sum(c >= 2 for c in judged)
    longest, gap, start = 0, [None, None], None
    for index, count in enumerate(counts + [None]):
        if count is not None and count < 2:
            if start is None:
                start = index
            continue
        if start is not None and index - start > longest:
            longest, gap = index - start, [start * step, index * step]
        start = None
    share = with_two / len(judged) if judged else 0.0
    longest_seconds = longest * step
    if (not judged or share < t.face_min_share
            or longest_seconds > t.face_max_gap_seconds):
        result = 'fail'
    elif share < round(t.face_min_share + 0.1, 9):
        result = 'warn'
    else:
        result = 'pass'
    return CheckResult('faces', result, _round(share),
        _round(t.face_min_share), 'ratio', 'circ54_art8_identifiable', {
            'frames': len(judged), 'with_two': with_two,
            'black_frames': len(counts) - len(judged),
            'longest_gap_seconds': _round(longest_seconds),
            'gap': [_round(g) for g in gap],
            })


def check_faces(path, thresholds=Thresholds(), runner=subprocess.run,
        size=None):
    "Return the 'faces' CheckResult of the file at path (see count_faces)."
    return face_result(count_faces(path, thresholds, runner, size),
        thresholds)


def run_all(path, nodes, timeline, duration, thresholds=Thresholds(),
        runner=subprocess.run, source=None):
    """Return the CheckResults of the eight checks, in CODES order, of the
    recording at path of duration seconds made from the source of
    media.Probe source (see check_timeline, check_continuity,
    analyse_media and check_faces)."""
    results = check_timeline(nodes, timeline, duration, thresholds)
    results.append(check_continuity(source, timeline, duration, thresholds))
    results += analyse_media(path, thresholds, runner, duration,
        source.repeats() if source is not None else ())
    results.append(check_faces(path, thresholds, runner))
    return results
