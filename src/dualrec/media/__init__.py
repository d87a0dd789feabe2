# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Recording media: plan, probe, transcode and verify.

A recording is kept as one MP4 (H.264 + AAC, ``+faststart``) of at most
``TARGET_SIZE`` bytes whatever its length.  ``plan`` turns a duration into a
bitrate budget and picks the best rung of ``LADDER`` that fits it; ``probe``
reads a file's streams with PyAV; ``transcode`` encodes the sound (AAC,
measured and re-encoded lower if over its allowance) while it decodes the
video once, scaling and encoding it with x264 as it goes at the bitrate the
allowance leaves, muxes both, verifies the result and re-encodes (x264
second pass) with a lower budget if it overshoots.

Units: durations in seconds, sizes in bytes, bitrates in bit/s, sample rates
in Hz, bits per pixel per frame ("bpp") as a plain ratio.

No trytond import: ffmpeg runs through an injected ``runner`` (the
``subprocess.run`` signature) so callers and tests control the I/O.  Every
failure is a ``MediaError`` with a stable short ``code``.
"""
import concurrent.futures
import dataclasses
import functools
import math
import os
import re
import shutil
import subprocess
import tempfile
import time

import av
import ffmpeg
import imageio_ffmpeg

from ..errors import CodedError

TARGET_SIZE = 5_000_000
# Share of target_size kept back for the error of x264's rate control
# (one pass: within about 1% on recordings longer than a few seconds).
SAFETY = 0.02
# ftyp + the fixed part of moov (mvhd, tkhd, stsd, udta...) + x264's SEI,
# measured at 2-3 KiB, reserved generously.
HEADER_BYTES = 16_384
# MP4 index cost per sample, measured at 15-20 bytes per video frame (stsz 4,
# ctts 8 with B-frames, stco 4 as ffmpeg interleaves about one chunk per
# frame) and 4 per AAC frame; reserved with about 50% margin.
VIDEO_FRAME_OVERHEAD = 32
AUDIO_FRAME_OVERHEAD = 8
AAC_FRAME_SAMPLES = 1024
# ffmpeg's native AAC encoder is not strictly CBR: it lands 10-20% above
# the asked rate on speech-like sound, up to 2x on harmonic-rich sound at
# 16 kHz and more.  Plans reserve this slack; transcode() measures the real
# audio and re-encodes it lower if it exceeds it (a second video pass, if
# one is needed, is sized from the audio measured).
AUDIO_SLACK = 1.2
# At this sample rate and below the 'fast' AAC coder (see aac_options),
# which lands within 3% of its rate on speech (measured at 8 kHz, 3-6
# kbps: 3.07, 4.07, 5.08, 6.08 kbps): a tenth is reserved.
FAST_AAC_RATE = 8_000
FAST_AAC_SLACK = 1.1
# Bits per pixel per frame under which a plan is flagged low_quality, and
# over which short recordings spend no more.
QUALITY_FLOOR = 0.03
MAX_BPP = 0.1
# The longest session the ladder promises to fit in TARGET_SIZE (the
# recorder warns at RECORDER_WARNING and states this limit).
MAX_SESSION_SECONDS = 7200
# A first pass landing more than this share under target_size is encoded
# again (x264 second pass) at the bitrate it left unspent, when the plan
# says more bits improve the picture (Plan.spends) and the new bitrate is
# at least BUDGET_MIN_GAIN over the first.
BUDGET_UNDERSHOOT = 0.05
BUDGET_MIN_GAIN = 1.05
# What the budget pass leaves unspent: x264's second pass lands within
# about 1% of its bitrate, and an output over the target keeps the first.
BUDGET_SAFETY = 0.01
# Plans encoding at most this many pixels per second (the rungs of long
# recordings) keep the scaled video of the first pass losslessly, so that
# a second pass reads it instead of decoding the source again.
INTERMEDIATE_MAX_PIXELS = 1_000_000
# Continuity (probe): a step between two packets of a stream of more than
# JUMP_SECONDS (and JUMP_STEPS usual steps) is a timestamp jump, one back
# by more than BACKWARD_SECONDS a backward step; the MAX_DISCONTINUITIES
# most severe are listed (all counted).
JUMP_SECONDS = 0.5
JUMP_STEPS = 4
BACKWARD_SECONDS = 0.05
MAX_DISCONTINUITIES = 50
# x264 presets by the pixels per second a plan encodes (width x height x
# fps): the encode shares the two cores with the decoder of a 720p or
# 1080p source, so the more pixels the faster the preset.  Measured on a
# 5-minute 720p talking head at 640x360@12 (2.8 Mpx/s): superfast (with
# PRESET_PARAMS) costs 1.3x a decode-only pass at SSIM 0.985, veryfast 1.5x
# at 0.986, medium 2.4x at 0.988; at 320x180@10 medium costs 1.1-1.3x.
PRESETS = (
    (8_000_000, 'ultrafast'),
    (2_000_000, 'superfast'),
    (1_000_000, 'veryfast'),
    (0, 'medium'),
    )
# x264 settings over a preset.  superfast turns the macroblock tree off:
# back on (with a 20-frame lookahead) it costs nothing measurable and lifts
# a still background with busy subjects from SSIM 0.942 to 0.953.
PRESET_PARAMS = {
    'superfast': 'rc-lookahead=20:mbtree=1',
    }
# A keyframe every 10 s: reviewers seek with that granularity.
GOP_SECONDS = 10
# Bit/s under which an encode is pointless (x264) or ignored (native AAC).
MIN_VIDEO_BITRATE = 1_000
MIN_AUDIO_BITRATE = 4_000
# x264 second passes, and AAC encodes, tried before giving up.
MAX_ATTEMPTS = 3
AUDIO_ATTEMPTS = 3
# Seconds the output may differ from the source; the header duration may
# exceed the packets by this plus 1% before the file counts as truncated.
DURATION_TOLERANCE = 1.0
# Video packets probe tries to decode a first frame from (recorders start
# on a keyframe; damaged files may start with a few broken packets).
MAX_UNDECODABLE = 600
_CONTAINERS = {
    'mov', 'mp4', '3gp', 'matroska', 'webm', 'avi', 'flv', 'mpegts', 'ogg'}


class MediaError(CodedError):
    """A media operation failed.

    code is a stable short string callers map to their own messages:
    'truncated' (the file stops before its end: an upload cut short),
    'not_video' (not a recording container at all), 'corrupt' (a
    recording container whose video does not read), 'no_video' (sound
    only), 'too_long' (does not fit target_size even at the lowest rung),
    'transcode_failed' / 'ffmpeg_failed' (ffmpeg exited non-zero; params hold
    the tail of its stderr), 'invalid_output' (the result is not what was
    asked), 'overshoot' (still larger than target_size after re-encoding).
    """

    def __init__(self, code, message, params=None):
        super().__init__(code, message, params)

    def __str__(self):
        return f'{self.code}: {self.message}'


@dataclasses.dataclass(frozen=True)
class Rung:
    """One step of the ladder.

    The picture fits in long_side x short_side (turned for portrait sources)
    at fps frames per second at most; audio_bitrate (bit/s) and audio_rate
    (Hz) are the AAC's.  min_bpp is the least video bits per pixel per frame
    worth this rung: below it the next rung looks better.
    """
    long_side: int
    short_side: int
    fps: int
    audio_bitrate: int
    audio_rate: int
    min_bpp: float

    @property
    def min_video_bitrate(self):
        "The least video bit/s worth this rung at its full box and rate"
        return self.min_bpp * self.long_side * self.short_side * self.fps


# Best first.  Each rung has no more pixels, frames, audio or bits per
# pixel than the one before, so whatever the source a longer recording never
# climbs back up.  Thresholds sit near 0.035 bpp, where x264 keeps SSIM
# >= 0.96 on talking heads (bench.media, heads scene: 108 kbps 640x360@12
# 0.984, 19 kbps 320x180@10 0.979, 7 kbps 256x144@5 0.968).  The last
# three rungs are the floor for sessions of 47 to 120 minutes (about 125
# at 5 MB): 256x144 at 3 fps with speech at 6 then 4 kbps, then at 2 fps
# with speech at 3 kbps (8 kHz; 6 kbps alone would take 5.4 MB in two
# hours), 1-3 kbps of video.  A 2 fps rung keeping 4 kbps of speech
# would leave the picture 1.1 kbps where 3 kbps of speech leaves 1.9.
LADDER = (
    Rung(1280, 720, 25, 48_000, 48_000, 0.035),
    Rung(960, 540, 25, 32_000, 32_000, 0.035),
    Rung(854, 480, 20, 32_000, 32_000, 0.035),
    Rung(640, 360, 15, 24_000, 24_000, 0.035),
    Rung(640, 360, 12, 16_000, 8_000, 0.034),
    Rung(480, 270, 10, 12_000, 8_000, 0.034),
    Rung(320, 180, 10, 8_000, 8_000, 0.031),
    Rung(320, 180, 5, 6_000, 8_000, 0.031),
    Rung(256, 144, 5, 6_000, 8_000, 0.03),
    Rung(256, 144, 3, 6_000, 8_000, 0.0135),
    Rung(256, 144, 3, 4_000, 8_000, 0.013),
    Rung(256, 144, 2, 3_000, 8_000, 0.012),
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    """How to encode one recording.

    Bitrates in bit/s (audio_bitrate is the rate asked of the AAC encoder),
    audio_rate in Hz; audio fields are 0 when the plan carries no audio.
    low_quality warns that the video gets fewer bits per pixel per frame than
    the quality floor the plan was made with.
    """
    width: int
    height: int
    fps: int
    video_bitrate: int
    audio_bitrate: int
    audio_rate: int
    audio_channels: int
    target_size: int
    low_quality: bool
    duration: float
    rung: int

    @property
    def bitrate(self):
        "Nominal video + audio bitrate in bit/s"
        return self.video_bitrate + self.audio_bitrate

    @property
    def bits_per_pixel(self):
        "Video bits per pixel per frame"
        return self.video_bitrate / (self.width * self.height * self.fps)

    @property
    def pixel_rate(self):
        "Pixels per second encoded"
        return self.width * self.height * self.fps

    def spends(self, bitrate):
        """Return the video bit/s worth spending out of bitrate: up to
        MAX_BPP more bits improve the picture (SSIM rises with the bits per
        pixel below it, bench.media), beyond it they are wasted."""
        return math.floor(min(bitrate, MAX_BPP * self.pixel_rate))


def audio_slack(rate):
    "Return the share of the asked AAC rate reserved for AAC at rate Hz"
    return FAST_AAC_SLACK if rate and rate <= FAST_AAC_RATE else AUDIO_SLACK


def usable_bitrate(duration, target_size=TARGET_SIZE):
    """Return the bit/s available for streams and index over duration
    seconds: target_size less the safety share and the header margin."""
    return (target_size * (1 - SAFETY) - HEADER_BYTES) * 8 / duration


def overhead_bitrate(fps, audio_rate=0):
    """Return the MP4 index cost in bit/s of fps video frames and of AAC at
    audio_rate Hz (0 for no audio) per second."""
    audio_frames = audio_rate / AAC_FRAME_SAMPLES
    return 8 * (VIDEO_FRAME_OVERHEAD * fps
        + AUDIO_FRAME_OVERHEAD * audio_frames)


def estimated_size(plan):
    """Return the conservative size in bytes of the MP4 for plan: streams
    (audio with its slack), index and header, plus the safety share."""
    rate = (plan.video_bitrate
        + plan.audio_bitrate * audio_slack(plan.audio_rate)
        + overhead_bitrate(plan.fps, plan.audio_rate))
    return math.ceil(
        (rate * plan.duration / 8 + HEADER_BYTES) / (1 - SAFETY))


def fit(rung, width=None, height=None):
    """Return the (width, height) of a width x height source in rung's box.

    Never upscales; keeps the aspect ratio, rounding each side down to an
    even number (at least 2) as H.264 4:2:0 needs.  A portrait source
    (height > width) turns the box.  Without source dimensions, the full
    landscape box.
    """
    if width is None or height is None:
        return rung.long_side, rung.short_side
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid source size {width}x{height}")
    box_width, box_height = rung.long_side, rung.short_side
    if height > width:
        box_width, box_height = box_height, box_width
    scale = min(1, box_width / width, box_height / height)

    def even(value):
        return max(2, int(value + 1e-6) // 2 * 2)
    return even(width * scale), even(height * scale)


def _rung_cost(rung, width, height, fps, audio):
    """Return (size, fps, min video, audio bitrate, audio rate, overhead) of
    rung for the source (min video in bit/s for the source's pixels and
    frames)."""
    size = fit(rung, width, height)
    rate = rung.fps
    if fps:
        # 29.97 and MediaRecorder's 29.99 average count as 30
        rate = max(1, min(rate, math.ceil(fps - 0.05)))
    audio_bitrate = rung.audio_bitrate if audio else 0
    audio_rate = rung.audio_rate if audio else 0
    return (size, rate, rung.min_bpp * size[0] * size[1] * rate,
        audio_bitrate, audio_rate, overhead_bitrate(rate, audio_rate))


def max_duration(index, target_size=TARGET_SIZE, width=None, height=None,
        audio=True, fps=None, ladder=LADDER):
    """Return the longest duration in seconds for which rung index of ladder
    still fits target_size (longer recordings go to the next rung)."""
    _, _, min_video, audio_bitrate, audio_rate, overhead = _rung_cost(
        ladder[index], width, height, fps, audio)
    return usable_bitrate(1, target_size) / (
        min_video + audio_bitrate * audio_slack(audio_rate) + overhead)


def plan(duration, target_size=TARGET_SIZE, quality_floor=QUALITY_FLOOR,
        width=None, height=None, audio=True, fps=None, max_bpp=MAX_BPP,
        ladder=LADDER):
    """Return the Plan for a recording of duration seconds.

    The budget is target_size bytes less the safety share, the header
    margin, the per-frame MP4 index cost and the audio (nominal rate times
    audio_slack); the first rung whose video share reaches its minimum wins
    and takes the whole share, capped at max_bpp (no point spending 5 MB on
    a few seconds) and at the minimum of the rungs above so that a longer
    recording never gets more bits per second (the few kbps a cheaper rung
    frees just past a boundary stay unspent).  width/height are the
    source's display size and fps its average frame rate (None: unknown;
    neither is ever exceeded), audio whether it has sound.  quality_floor is
    the bpp under which low_quality is set.

    Raises ValueError for a non-positive duration and MediaError('too_long')
    when even the last rung does not fit.
    """
    if not duration or not math.isfinite(duration) or duration <= 0:
        raise ValueError(f"invalid duration {duration!r}")
    usable = usable_bitrate(duration, target_size)
    ceiling = math.inf
    for index, rung in enumerate(ladder):
        size, rate, min_video, audio_bitrate, audio_rate, overhead = (
            _rung_cost(rung, width, height, fps, audio))
        available = (usable - overhead
            - audio_bitrate * audio_slack(audio_rate))
        if available >= min_video * (1 - 1e-9):
            break
        # A later rung must not get more than this one does at its floor
        ceiling = min(ceiling, min_video + audio_bitrate)
    else:
        raise MediaError('too_long',
            f"{duration:.0f} s does not fit {target_size} bytes", {
                'duration': duration, 'target_size': target_size,
                'max_duration': max_duration(len(ladder) - 1, target_size,
                    width, height, audio, fps, ladder),
                })
    pixels = size[0] * size[1] * rate
    video_bitrate = math.floor(min(
            available, max_bpp * pixels, ceiling - audio_bitrate))
    return Plan(
        width=size[0], height=size[1], fps=rate,
        video_bitrate=video_bitrate, audio_bitrate=audio_bitrate,
        audio_rate=audio_rate, audio_channels=1 if audio else 0,
        target_size=target_size,
        low_quality=video_bitrate / pixels < quality_floor,
        duration=duration, rung=index)


@dataclasses.dataclass(frozen=True)
class Discontinuity:
    """A break in the timestamps of one stream of a source.

    stream is 'video' or 'audio'; kind 'jump' (forward, seconds > 0: the
    stream has nothing from position to position + seconds) or 'backward'
    (seconds < 0: the stream starts again earlier, as files joined
    together do); position in seconds from the start of the file (the
    output of transcode keeps the source's timeline: a jump there is the
    previous frame repeated).
    """
    stream: str
    kind: str
    position: float
    seconds: float

    def as_dict(self):
        return {'stream': self.stream, 'kind': self.kind,
            'position': round(self.position, 3),
            'seconds': round(self.seconds, 3)}


@dataclasses.dataclass(frozen=True)
class Probe:
    """What a media file holds.

    container is 'mp4' (ISO brands), 'mov' (QuickTime brand), 'webm'
    (Matroska holding only WebM codecs), 'matroska' or the demuxer's name;
    duration in seconds (header, else last packet end); width/height the
    display size (rotation applied); fps the frame rate of the content:
    the average over the video packets less the timestamp jumps (a gap
    averaged in would lower it); audio fields None/0 without an audio
    stream; size in bytes.  discontinuities lists the first
    MAX_DISCONTINUITIES timestamp jumps and backward steps of the video
    and audio packets (discontinuity_count counts them all);
    video_seconds / audio_seconds are each stream's span from its first
    packet to its last packet's end (0 without the stream).
    """
    container: str
    duration: float
    video_codec: str
    width: int
    height: int
    fps: float
    audio_codec: str | None
    audio_rate: int
    audio_channels: int
    size: int
    rotation: int = 0
    discontinuities: tuple = ()
    discontinuity_count: int = 0
    video_seconds: float = 0.0
    audio_seconds: float = 0.0

    @property
    def has_audio(self):
        return self.audio_codec is not None

    def repeats(self):
        """Return the (start, end) seconds where the output of transcode
        repeats a frame because the source video has none (its jumps)."""
        return [(d.position, d.position + d.seconds)
            for d in self.discontinuities
            if d.stream == 'video' and d.kind == 'jump']


def _container_name(names, brand, video_codec, audio_codec):
    "Return the container of a file from its demuxer names and codecs"
    if names & {'mov', 'mp4'}:
        return 'mov' if brand == 'qt' else 'mp4'
    if 'matroska' in names:
        if (video_codec in {'vp8', 'vp9', 'av1'}
                and audio_codec in {None, 'opus', 'vorbis'}):
            return 'webm'
        return 'matroska'
    return sorted(names)[0]


def probe(path):
    """Return the Probe of the file at path.

    Reads the headers and demuxes every packet (no decoding but the first
    video frame, which proves the stream decodes), so a one-hour file takes
    about a second.  WebM from MediaRecorder has no duration in its header:
    the last packet end is used.  A header duration the packets fall short
    of by more than 1 s + 1% means the file is truncated.  Only recording
    containers are accepted (random bytes probe as some exotic format).

    Raises MediaError: 'truncated' for an empty file or one whose
    structure (MP4 boxes, Matroska elements) or header duration runs past
    its end, 'not_video' for input that is no recording container,
    'corrupt' for a container whose video does not read, 'no_video' when
    there is only sound; FileNotFoundError when there is no file.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if not size:
        raise MediaError('truncated', "empty file", {'path': path})
    try:
        with av.open(path, metadata_errors='ignore') as container:
            return _probe(container, path, size)
    except av.FFmpegError as exception:
        raise _unreadable(path, "unreadable media",
            {'path': path, 'error': str(exception)}) from exception
    except MediaError as exception:
        if exception.code == 'corrupt':
            raise _unreadable(path, exception.message,
                exception.params) from exception
        raise


def _unreadable(path, message, params):
    """Return the MediaError of a file that does not read: 'truncated'
    when its structure runs past its end, 'not_video' when it does not
    start as a recording container does, else 'corrupt'."""
    kind = container_kind(path)
    if kind is None:
        return MediaError('not_video', "not a recording container", params)
    if cut_short(path, kind):
        return MediaError('truncated', "the file stops before its end",
            params)
    return MediaError('corrupt', message, params)


_EBML_MAGIC = b'\x1a\x45\xdf\xa3'
_SEGMENT_ID = b'\x18\x53\x80\x67'


def container_kind(path):
    """Return 'iso' (MP4, MOV, 3GP), 'ebml' (WebM, Matroska) or 'other'
    (AVI, Ogg, FLV, MPEG-TS) from the first bytes of the file at path, None
    when they are no recording container's."""
    with open(path, 'rb') as file:
        head = file.read(400)
    if head[4:8] in {b'ftyp', b'moov', b'mdat', b'free', b'wide', b'skip'}:
        return 'iso'
    if head.startswith(_EBML_MAGIC):
        return 'ebml'
    if (head[:4] == b'RIFF' and head[8:11] == b'AVI') or head[:4] in {
            b'OggS', b'FLV\x01'} or (
            len(head) > 376 and head[0] == head[188] == head[376] == 0x47):
        return 'other'
    return None


def _ebml_number(data, offset, mask=True):
    """Return (value, length) of the EBML variable-size integer at offset
    of data (value None for 'unknown size'), or (None, 0) if cut."""
    if offset >= len(data) or not data[offset]:
        return None, 0
    first = data[offset]
    length = 8 - first.bit_length() + 1
    if offset + length > len(data):
        return None, 0
    value = first & (0xff >> length) if mask else first
    for byte in data[offset + 1:offset + length]:
        value = value << 8 | byte
    if mask and value == (1 << (7 * length)) - 1:
        value = None
    return value, length


def cut_short(path, kind=None):
    """Tell whether the file at path stops inside its structure: an MP4
    top-level box running past the end or no index (moov/moof) at all, a
    Matroska element (the segment, else its last cluster) running past the
    end.  Other containers: False (their truncation shows in the packets).
    """
    kind = kind or container_kind(path)
    size = os.path.getsize(path)
    with open(path, 'rb') as file:
        if kind == 'iso':
            offset, boxes = 0, set()
            while offset + 8 <= size:
                file.seek(offset)
                header = file.read(16)
                length = int.from_bytes(header[:4], 'big')
                boxes.add(header[4:8])
                if length == 1 and len(header) == 16:
                    length = int.from_bytes(header[8:16], 'big')
                elif length == 0:
                    length = size - offset
                if length < 8:
                    return False
                offset += length
            return offset > size or not boxes & {b'moov', b'moof'}
        if kind == 'ebml':
            data = file.read(min(size, 1 << 20))
            offset = 0
            while offset < len(data):
                _, id_length = _ebml_number(data, offset, mask=False)
                length, size_length = _ebml_number(data, offset + id_length)
                if not id_length or not size_length:
                    return True
                start = offset + id_length + size_length
                if data[offset:offset + id_length] == _SEGMENT_ID:
                    if length is not None:
                        return start + length > size
                    return _last_cluster_cut(file, start, size)
                if length is None:
                    return False
                offset = start + length
            return True
    return False


def _last_cluster_cut(file, start, size):
    "Tell whether the children of a live (unknown size) segment run out"
    offset = start
    while offset < size:
        file.seek(offset)
        header = file.read(12)
        _, id_length = _ebml_number(header, 0, mask=False)
        length, size_length = _ebml_number(header, id_length)
        if not id_length or not size_length:
            return True
        if length is None:
            # a live cluster: its blocks are the demuxer's to read
            return False
        offset += id_length + size_length + length
    return offset > size


def _probe(container, path, size):
    names = set(container.format.name.split(','))
    if not names & _CONTAINERS:
        raise MediaError('not_video', "not a recording container",
            {'path': path, 'format': container.format.name})
    if not container.streams.video:
        if not container.streams.audio:
            raise MediaError('not_video', "no media stream", {'path': path})
        raise MediaError('no_video', "no video stream", {'path': path})
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    streams = [video] + ([audio] if audio else [])
    start, end = math.inf, -math.inf
    first_pts, last_pts, frames = math.inf, -math.inf, 0
    spans = {'video': [math.inf, -math.inf], 'audio': [math.inf, -math.inf]}
    continuity = _Continuity()
    frame = None
    for packet in container.demux(streams):
        if packet.pts is None:
            continue
        pts = float(packet.pts * packet.time_base)
        packet_end = pts + float((packet.duration or 0) * packet.time_base)
        start = min(start, pts)
        end = max(end, packet_end)
        kind = 'video' if packet.stream is video else 'audio'
        span = spans[kind]
        span[0], span[1] = min(span[0], pts), max(span[1], packet_end)
        continuity.step(kind, pts if packet.dts is None
            else float(packet.dts * packet.time_base))
        if packet.stream is video:
            frames += 1
            first_pts, last_pts = min(first_pts, pts), max(last_pts, pts)
            if frame is None and frames <= MAX_UNDECODABLE:
                try:
                    frame = next(iter(packet.decode()), None)
                except av.FFmpegError:
                    pass
    if frame is None:
        try:
            frame = next(iter(video.codec_context.decode(None)), None)
        except av.FFmpegError:
            pass
    if not frames or frame is None:
        raise MediaError('corrupt', "video does not decode", {'path': path})
    # the rate of the content: the time the video jumps over holds no
    # frame, and joined takes each count
    content = (continuity.content('video') if continuity.count
        else last_pts - first_pts)
    fps = (frames - 1) / content if content > 0 else 0
    if fps:
        # WebM video packets carry no duration: count the last frame's.
        end = max(end, last_pts + 1 / fps)
        spans['video'][1] = max(spans['video'][1], last_pts + 1 / fps)
    packets = end - start
    header = container.duration / av.time_base if container.duration else 0
    if header and packets < header - DURATION_TOLERANCE - 0.01 * header:
        raise MediaError('truncated', "truncated file",
            {'path': path, 'duration': header, 'packets': packets})
    width, height = video.codec_context.width, video.codec_context.height
    rotation = int(getattr(frame, 'rotation', 0) or 0)
    if rotation % 180:
        width, height = height, width
    audio_codec = audio.codec_context.name if audio else None
    brand = container.metadata.get('major_brand', '').strip()
    return Probe(
        container=_container_name(
            names, brand, video.codec_context.name, audio_codec),
        duration=header or packets,
        video_codec=video.codec_context.name,
        width=width, height=height, fps=fps,
        audio_codec=audio_codec,
        audio_rate=audio.codec_context.sample_rate if audio else 0,
        audio_channels=audio.codec_context.channels if audio else 0,
        size=size, rotation=rotation,
        discontinuities=continuity.found(start),
        discontinuity_count=continuity.count,
        video_seconds=max(0.0, spans['video'][1] - spans['video'][0]),
        audio_seconds=(max(0.0, spans['audio'][1] - spans['audio'][0])
            if audio else 0.0))


class _Continuity:
    """The timestamp jumps and backward steps of the streams of a file,
    packet after packet in decode order (DTS: video packets come in
    decode order, so their PTS may go back with B-frames).

    A step from one packet to the next is a jump when it exceeds
    JUMP_SECONDS and JUMP_STEPS times the stream's usual step (the median:
    a 1 fps source steps by 1 s); the jump's seconds are the step less
    the usual one.  Packet durations are not trusted (MP4 stretches the
    packet before a jump over it).
    """

    def __init__(self):
        self.last = {}
        self.steps = {}

    def step(self, kind, dts):
        last = self.last.get(kind)
        self.last[kind] = dts
        if last is not None:
            self.steps.setdefault(kind, []).append((last, dts - last))

    def _usual(self, kind):
        forward = sorted(step for _, step in self.steps.get(kind, ())
            if step > 0)
        return forward[len(forward) // 2] if forward else 0.0

    def _breaks(self):
        "Yield (kind, 'jump' | 'backward', position, seconds) in file order"
        found = []
        for kind, steps in self.steps.items():
            usual = self._usual(kind)
            limit = max(JUMP_SECONDS, JUMP_STEPS * usual)
            for position, step in steps:
                if step > limit:
                    found.append((position, kind, 'jump', step - usual))
                elif step < -BACKWARD_SECONDS:
                    found.append((position, kind, 'backward', step))
        for position, kind, what, seconds in sorted(found):
            yield kind, what, position, seconds

    @property
    def count(self):
        return sum(1 for _ in self._breaks())

    def content(self, kind):
        """Seconds of stream kind from its first packet to its last one,
        jumps left out and backward steps counted as usual steps"""
        usual = self._usual(kind)
        limit = max(JUMP_SECONDS, JUMP_STEPS * usual)
        return sum(step if -BACKWARD_SECONDS <= step <= limit else usual
            for _, step in self.steps.get(kind, ()))

    def found(self, start):
        """The MAX_DISCONTINUITIES most severe Discontinuity (backward steps,
        then the longest jumps) in file order, positions from start"""
        start = 0.0 if not math.isfinite(start) else start
        severe = sorted(self._breaks(),
            key=lambda b: (b[1] != 'backward', -abs(b[3])))
        return tuple(Discontinuity(kind, what, position - start, seconds)
            for kind, what, position, seconds in sorted(
                severe[:MAX_DISCONTINUITIES], key=lambda b: b[2]))


def stream_bytes(path):
    "Return the payload bytes per stream type ('video', 'audio') of path"
    totals = {}
    with av.open(path) as container:
        for packet in container.demux():
            if packet.size:
                kind = packet.stream.type
                totals[kind] = totals.get(kind, 0) + packet.size
    return totals


@functools.cache
def ffmpeg_executable():
    "Return the path of the ffmpeg binary shipped by imageio-ffmpeg"
    return imageio_ffmpeg.get_ffmpeg_exe()


def _command(stream, loglevel='error'):
    return ffmpeg.compile(
        stream.global_args(
            '-hide_banner', '-nostdin', '-nostats', '-loglevel', loglevel),
        cmd=ffmpeg_executable(), overwrite_output=True)


def _run(runner, args, code='transcode_failed', step=None):
    """Run args with runner and return its stderr as text; raise
    MediaError(code) with the tail of stderr if it fails."""
    result = runner(args, stdin=subprocess.DEVNULL, capture_output=True,
        check=False)
    stderr = result.stderr or b''
    if isinstance(stderr, bytes):
        stderr = stderr.decode('utf-8', 'replace')
    if result.returncode:
        raise MediaError(code, f"ffmpeg failed ({step or args[-1]})", {
                'step': step, 'returncode': result.returncode,
                'stderr': '\n'.join(stderr.strip().splitlines()[-20:]),
                })
    return stderr


@dataclasses.dataclass(frozen=True)
class Transcoded:
    """The outcome of transcode: the output's Probe, the source's, the number
    of video encodes, the final bitrates asked of x264 and of the AAC
    encoder (bit/s), the x264 preset, and the wall-clock seconds of the
    pass that decodes the source (the sound is encoded meanwhile) and of
    what follows (mux, verify and any second pass).  first_size is the
    size in bytes of the first output that fitted; budget_bitrate the
    bit/s a second pass spending what it left asked (0: none was tried),
    budget_pass whether that pass fitted and was kept."""
    probe: Probe
    source: Probe
    attempts: int
    video_bitrate: int
    audio_bitrate: int
    preset: str
    decode_seconds: float
    encode_seconds: float
    first_size: int = 0
    budget_pass: bool = False
    budget_bitrate: int = 0


def choose_preset(plan):
    """Return the x264 preset for plan: the encode runs while the source is
    decoded, so the more pixels per second it makes the faster the preset,
    keeping the whole pipeline near the cost of decoding (see PRESETS)."""
    pixels = plan.width * plan.height * plan.fps
    return next(name for floor, name in PRESETS if pixels >= floor)


def _scaled_video(source, plan):
    """The video of source (an ffmpeg-python input) at plan's constant fps
    and size.  Variable frame rate input becomes constant (fps filter,
    frames dropped or repeated; start_time=0 repeats the first frame when
    the video starts late).  'area' averages the pixels it shrinks: as
    sharp as bicubic when downscaling, and cheaper."""
    return (source.video
        .filter('fps', fps=plan.fps, start_time=0)
        .filter('scale', plan.width, plan.height, flags='area')
        .filter('setsar', 1)
        .filter('format', 'yuv420p'))


def sound_command(source, pcm, aac, plan, source_probe):
    """Return the ffmpeg arguments of the pass that reads the sound of
    source (the video is not decoded), downmixed and resampled to plan's,
    into pcm (WAV, kept for re-encodes) and into AAC at plan.audio_bitrate
    at aac.

    Gaps or a late start in the audio are filled with silence (aresample
    async) and short audio is padded to the full duration, so damaged audio
    keeps sync.
    """
    duration = f'{source_probe.duration:.3f}'
    layout = 'mono' if plan.audio_channels == 1 else 'stereo'
    sound = (ffmpeg.input(source).audio
        .filter('aresample', **{'async': 1, 'first_pts': 0})
        .filter('aformat', sample_fmts='s16', sample_rates=plan.audio_rate,
            channel_layouts=layout)
        .filter('apad', whole_dur=duration)
        .asplit())
    return _command(ffmpeg.merge_outputs(
            ffmpeg.output(sound[0], pcm, t=duration, map_metadata=-1,
                **{'c:a': 'pcm_s16le', 'f': 'wav'}),
            ffmpeg.output(sound[1], aac, t=duration, map_metadata=-1,
                **aac_options(plan.audio_bitrate, plan.audio_rate))))


def aac_options(bitrate, rate):
    """Return the ffmpeg output options of AAC-LC at bitrate bit/s (native
    encoder) in an MP4, for sound sampled at rate Hz.

    At FAST_AAC_RATE Hz and below the 'fast' coder is used: there it lands
    within ~10% of its rate where 'twoloop' doubles it; above, 'twoloop'
    is the closer (and the better sounding)."""
    return {'c:a': 'aac', 'b:a': bitrate, 'f': 'mp4',
        'aac_coder': 'fast' if rate <= FAST_AAC_RATE else 'twoloop'}


def x264_options(plan, bitrate, passlog, pass_, preset):
    """Return the ffmpeg output options of x264 pass pass_ at bitrate bit/s.

    The first pass is a full-quality ABR encode (fastfirstpass off) that
    also writes the statistics a second pass needs if the first overshoots.
    """
    options = {
        'c:v': 'libx264', 'preset': preset, 'b:v': bitrate,
        'pass': pass_, 'passlogfile': passlog,
        'g': plan.fps * GOP_SECONDS, 'pix_fmt': 'yuv420p',
        }
    if pass_ == 1:
        options['fastfirstpass'] = 0
    if preset in PRESET_PARAMS:
        options['x264-params'] = PRESET_PARAMS[preset]
    return options


def audio_command(pcm, destination, bitrate, rate):
    """Return the ffmpeg arguments encoding the PCM at pcm (sampled at rate
    Hz) into AAC at bitrate bit/s (aac_options) at destination."""
    return _command(ffmpeg.input(pcm).audio.output(
            destination, **aac_options(bitrate, rate)))


def encode_command(source, destination, plan, source_probe, bitrate,
        passlog, pass_=1, preset='medium', intermediate=None):
    """Return the ffmpeg arguments of the pass that decodes the video of
    source once, scales it (_scaled_video) and encodes it with x264 pass
    pass_ at bitrate bit/s (statistics in passlog) into the MP4
    destination.  ffmpeg runs the decoder, the filters and the encoder in
    their own threads: x264 works while the source is still being decoded.

    intermediate, if given, is where the scaled video is also written,
    losslessly (x264 qp 0, Matroska), for later passes to read in place of
    the source: the same frames, decoded at the plan's size.
    """
    duration = f'{source_probe.duration:.3f}'
    video = _scaled_video(ffmpeg.input(source), plan)
    if intermediate is None:
        return _command(ffmpeg.output(video, destination,
                t=duration, map_metadata=-1, f='mp4',
                **x264_options(plan, bitrate, passlog, pass_, preset)))
    video = video.split()
    return _command(ffmpeg.merge_outputs(
            ffmpeg.output(video[0], destination, t=duration,
                map_metadata=-1, f='mp4',
                **x264_options(plan, bitrate, passlog, pass_, preset)),
            ffmpeg.output(video[1], intermediate, t=duration,
                map_metadata=-1, f='matroska', **{
                    'c:v': 'libx264', 'preset': 'ultrafast', 'qp': 0,
                    'pix_fmt': 'yuv420p'})))


def mux_command(video, destination, audio=None):
    """Return the ffmpeg arguments copying the H.264 of video and the AAC of
    audio (None: no audio) into the MP4 destination, index in front."""
    streams = [ffmpeg.input(video).video]
    if audio:
        streams.append(ffmpeg.input(audio).audio)
    return _command(ffmpeg.output(*streams, destination, c='copy',
            map_metadata=-1, movflags='+faststart', f='mp4'))


def audio_allowance(plan):
    "Return the bytes planned for the audio of plan (with audio_slack)"
    return math.floor(plan.audio_bitrate * audio_slack(plan.audio_rate)
        * plan.duration / 8)


def video_budget(plan, audio_bytes):
    """Return the video bit/s left once the measured audio_bytes, the index,
    the header margin and the safety share are set aside."""
    bits = ((plan.target_size * (1 - SAFETY) - HEADER_BYTES - audio_bytes) * 8
        - overhead_bitrate(plan.fps, plan.audio_rate) * plan.duration)
    return math.floor(bits / plan.duration)


def x264_bitrate(bitrate):
    """Return the bit/s x264 really gets asked bitrate bit/s: ffmpeg hands
    it whole kbit/s (rounded down), which at the floor of the ladder is a
    step of 15-90 %."""
    return max(MIN_VIDEO_BITRATE, bitrate // 1000 * 1000)


def spending_bitrate(plan, output_size, video_bytes):
    """Return the video bit/s of a pass spending what an output of
    output_size bytes, video_bytes of them video, left of
    plan.target_size (less BUDGET_SAFETY): the video rate it measured plus
    the bytes left over the duration, as much as Plan.spends, in whole
    kbit/s (x264_bitrate)."""
    left = plan.target_size * (1 - BUDGET_SAFETY) - output_size
    rate = (video_bytes + left) * 8 / plan.duration
    return x264_bitrate(plan.spends(math.floor(rate)))


def lower_bitrate(bitrate, size, allowed, payload):
    """Return the bitrate for a retry after an encode of size bytes (payload
    of them from this stream) exceeded allowed bytes: the payload sheds the
    excess, plus 5% for the encoder's error."""
    if payload <= 0:
        return math.floor(bitrate * allowed / size * 0.95)
    excess = size - allowed
    return math.floor(bitrate * (payload - excess) / payload * 0.95)


def verify(source_probe, output_path, plan):
    """Return the Probe of output_path once it is what plan asked of
    source_probe: an MP4 of H.264 at plan's size, AAC if the source has audio
    and the plan keeps it (none otherwise), duration within 1 s of the
    source.

    Raises MediaError('invalid_output') for any mismatch and
    MediaError('overshoot') when it is larger than plan.target_size.
    """
    try:
        output = probe(output_path)
    except MediaError as exception:
        raise MediaError('invalid_output', "output does not probe",
            {'error': exception.code, **exception.params}) from exception
    expected_audio = ('aac'
        if source_probe.has_audio and plan.audio_bitrate else None)
    problems = {}
    if output.container != 'mp4':
        problems['container'] = output.container
    if output.video_codec != 'h264':
        problems['video_codec'] = output.video_codec
    if (output.width, output.height) != (plan.width, plan.height):
        problems['size'] = f'{output.width}x{output.height}'
    if output.audio_codec != expected_audio:
        problems['audio_codec'] = output.audio_codec
    if abs(output.duration - source_probe.duration) > DURATION_TOLERANCE:
        problems['duration'] = output.duration
    if problems:
        raise MediaError('invalid_output', "output does not match the plan",
            problems)
    if output.size > plan.target_size:
        raise MediaError('overshoot', "output larger than the target size",
            {'size': output.size, 'target_size': plan.target_size})
    return output


def _encode_audio(runner, source, pcm, destination, plan, source_probe):
    """Read the sound of source into pcm and AAC at plan.audio_bitrate at
    destination (sound_command), then bring the AAC within audio_allowance,
    re-encoding the PCM lower while it exceeds it (at most AUDIO_ATTEMPTS
    encodes in all, cheap: audio only; ffmpeg's AAC is not strictly CBR).
    Return (bitrate, bytes) of the last encode: a second video pass, if
    one is needed, is sized from what the sound really takes."""
    _run(runner, sound_command(source, pcm, destination, plan,
            source_probe), step='audio')
    allowance = audio_allowance(plan)
    bitrate = plan.audio_bitrate
    audio_bytes = stream_bytes(destination).get('audio', 0)
    for attempt in range(2, AUDIO_ATTEMPTS + 1):
        lower = max(MIN_AUDIO_BITRATE, lower_bitrate(
                bitrate, audio_bytes, allowance, audio_bytes))
        if audio_bytes <= allowance or lower >= bitrate:
            break
        bitrate = lower
        _run(runner, audio_command(pcm, destination, bitrate,
                plan.audio_rate), step='audio')
        audio_bytes = stream_bytes(destination).get('audio', 0)
    return bitrate, audio_bytes


def transcode(source, destination, plan, workdir, runner=subprocess.run,
        progress=None, clock=time.monotonic, preset=None,
        max_attempts=MAX_ATTEMPTS, source_probe=None):
    """Encode source into destination following plan; return Transcoded.

    Steps: probe (unless source_probe is given); at the same time, in two
    ffmpeg processes, the sound (read alone, encoded to AAC and brought
    within its allowance: _encode_audio) and the video (decoded once,
    scaled and encoded by x264 as it goes: encode_command) at the bitrate
    the allowance leaves (video_budget), a first pass at full quality whose
    one-pass rate control lands within about 1% (inside SAFETY); both muxed
    (mux_command); verify.  An output over target_size is encoded again as
    a second x264 pass (the first pass's statistics hold for any bitrate)
    at lower_bitrate of what the measured audio leaves, up to max_attempts
    encodes in all.  An output more than BUDGET_UNDERSHOOT under
    target_size is encoded again once as a second pass at the bitrate
    that spends what it left (spending_bitrate), when that is
    BUDGET_MIN_GAIN over the first; if that pass does not fit, the first
    output is kept.  Bitrates are asked in whole kbit/s (x264_bitrate).  For plans of at most INTERMEDIATE_MAX_PIXELS
    pixels per second the first pass also keeps the scaled video
    losslessly: second passes read it rather than decode the source again.
    preset is the x264 preset, by default choose_preset(plan).

    A source without audio gives an MP4 without audio track (no silent
    track: it would pretend sound was recorded).  Scratch files live in a
    private directory under workdir, removed whatever happens; destination
    is only written once verified.  progress, if given, is called with
    (step, fraction done) at 'encode' (once per encode), 'verify' and
    'done'.

    Raises MediaError: 'truncated' / 'not_video' / 'corrupt' / 'no_video'
    from probe, 'transcode_failed', 'invalid_output', 'overshoot'.
    """
    def step(name, fraction):
        if progress:
            progress(name, fraction)

    source, destination = os.fspath(source), os.fspath(destination)
    if source_probe is None:
        source_probe = probe(source)
    if preset is None:
        preset = choose_preset(plan)
    scratch = tempfile.mkdtemp(prefix='transcode-', dir=workdir)
    sound = None
    try:
        audio = None
        passlog = os.path.join(scratch, 'x264')
        video = os.path.join(scratch, 'video.mp4')
        output = os.path.join(scratch, 'output.mp4')
        kept = os.path.join(scratch, 'first.mp4')
        intermediate = (os.path.join(scratch, 'scaled.mkv')
            if plan.pixel_rate <= INTERMEDIATE_MAX_PIXELS else None)
        started = clock()
        with_audio = source_probe.has_audio and plan.audio_bitrate
        if with_audio:
            audio = os.path.join(scratch, 'audio.m4a')
            sound = concurrent.futures.ThreadPoolExecutor(1)
            audio_done = sound.submit(_encode_audio, runner, source,
                os.path.join(scratch, 'audio.wav'), audio, plan,
                source_probe)
        bitrate = x264_bitrate(min(plan.video_bitrate, video_budget(plan,
                    audio_allowance(plan) if with_audio else 0)))
        audio_bitrate, audio_bytes = 0, 0
        first = None    # (result, bitrate) of the output kept at kept
        budget_bitrate, budget_pass = 0, False
        for attempt in range(1, max_attempts + 2):
            step('encode', 0.05 if attempt == 1 else 0.5)
            if attempt == 1:
                _run(runner, encode_command(source, video, plan,
                        source_probe, bitrate, passlog, pass_=1,
                        preset=preset, intermediate=intermediate),
                    step='encode')
                encoded = clock()
                if with_audio:
                    audio_bitrate, audio_bytes = audio_done.result()
            else:
                _run(runner, encode_command(intermediate or source, video,
                        plan, source_probe, bitrate, passlog, pass_=2,
                        preset=preset), step='encode')
            _run(runner, mux_command(video, output, audio), step='mux')
            step('verify', 0.95)
            try:
                result = verify(source_probe, output, plan)
            except MediaError as exception:
                if first is not None:
                    # the budget pass does not fit: the first output does
                    shutil.move(kept, output)
                    result, bitrate = first
                    break
                if (exception.code != 'overshoot'
                        or attempt >= max_attempts):
                    raise
                bitrate = min(bitrate, video_budget(plan, audio_bytes),
                    lower_bitrate(bitrate, exception.params['size'],
                        plan.target_size,
                        stream_bytes(output).get('video', 0)))
                bitrate = (bitrate if bitrate < MIN_VIDEO_BITRATE
                    else x264_bitrate(bitrate))
                if bitrate < MIN_VIDEO_BITRATE:
                    raise MediaError('overshoot',
                        "no bits left for the video", {
                            'video_bitrate': bitrate,
                            'audio_bytes': audio_bytes,
                            'target_size': plan.target_size})
                continue
            if first is not None:
                budget_pass = True
                break
            first_size = result.size
            if attempt > 1:
                # the budget was cut to fit: nothing left to spend
                break
            if result.size >= plan.target_size * (1 - BUDGET_UNDERSHOOT):
                break
            spend = spending_bitrate(plan, result.size,
                stream_bytes(output).get('video', 0))
            if spend < bitrate * BUDGET_MIN_GAIN:
                break
            budget_bitrate = spend
            first = (result, bitrate)
            shutil.move(output, kept)
            bitrate = spend
        finished = clock()
        shutil.move(output, destination)
    finally:
        if sound:
            # the sound's ffmpeg must be done before its files go
            sound.shutdown(wait=True)
        shutil.rmtree(scratch, ignore_errors=True)
    step('done', 1)
    return Transcoded(probe=result, source=source_probe, attempts=attempt,
        video_bitrate=bitrate, audio_bitrate=audio_bitrate, preset=preset,
        decode_seconds=encoded - started, encode_seconds=finished - encoded,
        first_size=first_size, budget_pass=budget_pass,
        budget_bitrate=budget_bitrate)


@dataclasses.dataclass(frozen=True)
class Quality:
    "SSIM (0-1, 'All' over Y, U, V) and PSNR (dB, average; inf if equal)"
    ssim: float
    psnr: float


def ssim_psnr(reference, distorted, width, height, runner=subprocess.run,
        fps=None):
    """Return the Quality of distorted against reference scaled (bicubic)
    to width x height.  Both start at time 0; frames pair by timestamp, so
    a distorted file at a lower frame rate is also charged for its judder
    unless fps resamples the reference to its rate first."""
    if os.path.abspath(reference) == os.path.abspath(distorted):
        # ffmpeg-python would merge two identical inputs into one node
        reference = 'file:' + os.path.abspath(reference)
    distorted = (ffmpeg.input(distorted).video
        .filter('setpts', 'PTS-STARTPTS')
        .filter('setsar', 1)
        .filter('format', 'yuv420p')
        .split())
    reference = ffmpeg.input(reference).video.filter('setpts', 'PTS-STARTPTS')
    if fps:
        reference = reference.filter('fps', fps=fps)
    reference = (reference
        .filter('scale', width, height, flags='bicubic')
        .filter('setsar', 1)
        .filter('format', 'yuv420p')
        .split())
    ssim = ffmpeg.filter([distorted[0], reference[0]], 'ssim')
    psnr = ffmpeg.filter([distorted[1], reference[1]], 'psnr')
    stderr = _run(runner,
        _command(ffmpeg.output(ssim, psnr, '-', f='null'), loglevel='info'),
        code='ffmpeg_failed', step='ssim_psnr')
    ssim = re.search(r'SSIM .*All:\s*([0-9.]+|inf)', stderr)
    psnr = re.search(r'PSNR .*average:\s*([0-9.]+|inf)', stderr)
    if not ssim or not psnr:
        raise MediaError('ffmpeg_failed', "no SSIM/PSNR in ffmpeg output",
            {'stderr': stderr[-2000:]})
    return Quality(ssim=float(ssim.group(1)), psnr=float(psnr.group(1)))
