# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A talking-head test scene for the media benchmark.

Two people at a counter as a webcam sees them: a still room (textured wall,
desk, poster), and for each person shoulders in a patterned shirt, a shaded
face with hair, eyes that blink and a mouth that moves while that person
speaks; heads sway and nod smoothly (sub-pixel motion, as a real camera
sees).  Sensor noise is left to ffmpeg's ``noise`` filter.

``write_clip`` renders a clip with numpy and OpenCV and pipes it to ffmpeg;
``loop`` stretches a clip to any length by stream copy, so a 40-minute
input costs the rendering of one minute.  The encoder gains nothing from
the repetition: its references reach back 16 frames at most and a key
frame starts every 10 s.
"""
import math
import subprocess

import cv2
import ffmpeg
import numpy as np

from dualrec import testing
from dualrec import media

# Speech: the two people talk in turns of TURN seconds; while one speaks
# the mouth follows the syllable rhythm of testing._SPEECH (3.3 Hz).
TURN = 6.0


def _texture(rng, height, width, scale, strength):
    "Static smooth noise: a fabric, skin or plaster grain."
    small = rng.normal(0, 1, (max(2, height // scale), max(2, width // scale)))
    grain = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 1, (height, width)), (0, 0), 0.8)
    return (grain * strength + fine * strength * 0.5).astype(np.float32)


def _room(width, height, rng):
    "The still background: wall, desk, poster, a shelf."
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    wall = np.array([150, 140, 128], np.float32) * (1.05 - 0.15 * y)
    room = np.broadcast_to(wall, (height, width, 3)).copy()
    room += _texture(rng, height, width, 24, 4)[..., None]
    desk = int(height * 0.72)
    room[desk:] = np.array([60, 85, 110], np.float32)
    room[desk:] += _texture(rng, height - desk, width, 8, 6)[..., None]
    cv2.rectangle(room, (int(width * 0.42), int(height * 0.1)),
        (int(width * 0.58), int(height * 0.4)), (200, 190, 170), -1)
    cv2.putText(room, 'SERVICE', (int(width * 0.44), int(height * 0.2)),
        cv2.FONT_HERSHEY_SIMPLEX, height / 720, (90, 60, 160), 2, cv2.LINE_AA)
    for line in range(4):
        top = int(height * (0.25 + 0.035 * line))
        cv2.line(room, (int(width * 0.44), top), (int(width * 0.56), top),
            (120, 110, 100), 2, cv2.LINE_AA)
    cv2.rectangle(room, (int(width * 0.02), int(height * 0.35)),
        (int(width * 0.12), int(height * 0.37)), (70, 90, 120), -1)
    return room


def _person(size, shirt, skin, hair, rng):
    """Return (sprite BGR float, alpha float, face centre, face axes) of a
    person whose head is size pixels high."""
    height, width = int(size * 2.6), int(size * 2.2)
    sprite = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    centre = (width // 2, int(size * 0.75))
    axes = (int(size * 0.38), int(size * 0.5))
    # shoulders and shirt
    body = np.zeros((height, width), np.uint8)
    cv2.ellipse(body, (width // 2, height), (int(width * 0.48),
            int(height * 0.42)), 0, 180, 360, 255, -1, cv2.LINE_AA)
    cv2.rectangle(body, (int(width * 0.44), centre[1] + axes[1] - 10),
        (int(width * 0.56), int(height * 0.62)), 255, -1)
    stripes = (np.sin(np.arange(width) / size * 40)[None, :] > 0.6) * 18.0
    cloth = (np.array(shirt, np.float32)
        + (_texture(rng, height, width, 6, 5) + stripes)[..., None])
    neck = body.copy()
    neck[int(height * 0.58):] = 0
    mask = body.astype(np.float32) / 255
    sprite += cloth * mask[..., None]
    sprite[neck > 0] = np.array(skin, np.float32) * 0.85
    alpha = np.maximum(alpha, mask)
    # face: shaded skin ellipse
    face = np.zeros((height, width), np.uint8)
    cv2.ellipse(face, centre, axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 1.1 - 0.25 * np.hypot((xx - centre[0] + axes[0] * 0.3)
        / axes[0], (yy - centre[1] + axes[1] * 0.3) / axes[1])
    skin_layer = (np.array(skin, np.float32) * shade[..., None]
        + _texture(rng, height, width, 10, 3)[..., None])
    face_mask = face.astype(np.float32) / 255
    sprite = sprite * (1 - face_mask[..., None]) + skin_layer * face_mask[
        ..., None]
    alpha = np.maximum(alpha, face_mask)
    # hair: a cap over the top of the face
    cap = np.zeros((height, width), np.uint8)
    cv2.ellipse(cap, (centre[0], centre[1] - int(axes[1] * 0.25)),
        (int(axes[0] * 1.1), int(axes[1] * 0.85)), 0, 180, 360, 255, -1,
        cv2.LINE_AA)
    cv2.ellipse(cap, (centre[0], centre[1] - int(axes[1] * 0.25)),
        (int(axes[0] * 1.1), int(axes[1] * 0.3)), 0, 0, 180, 255, -1,
        cv2.LINE_AA)
    cap_mask = cap.astype(np.float32) / 255 * (yy < centre[1] - axes[1] * 0.2)
    hair_layer = (np.array(hair, np.float32)
        + _texture(rng, height, width, 3, 8)[..., None])
    sprite = sprite * (1 - cap_mask[..., None]) + hair_layer * cap_mask[
        ..., None]
    alpha = np.maximum(alpha, cap_mask)
    # eyebrows and nose, fixed to the face
    for side in (-1, 1):
        x = centre[0] + side * int(axes[0] * 0.4)
        y = centre[1] - int(axes[1] * 0.22)
        cv2.line(sprite, (x - int(size * 0.08), y), (x + int(size * 0.08), y),
            (40, 40, 50), max(2, size // 40), cv2.LINE_AA)
    cv2.line(sprite, (centre[0], centre[1] - int(axes[1] * 0.05)),
        (centre[0] - int(size * 0.03), centre[1] + int(axes[1] * 0.25)),
        tuple(c * 0.7 for c in skin), max(2, size // 50), cv2.LINE_AA)
    return sprite, alpha, centre, axes


def _speaking(t, who):
    "The mouth opening (0-1) of person who (0 or 1) at t seconds."
    if int(t // TURN) % 2 != who:
        return 0.05
    syllable = math.sin(2 * math.pi * 3.3 * t) + 0.3
    loud = 0.6 + 0.4 * math.sin(2 * math.pi * 4 * t)
    return max(0.05, min(1, syllable * loud))


_PEOPLE = (
    # x, y of the head centre (share of the frame), head size (share of
    # the height), shirt, skin, hair (BGR)
    (0.27, 0.40, 0.30, (150, 90, 40), (120, 160, 215), (30, 30, 40)),
    (0.73, 0.42, 0.28, (70, 70, 150), (110, 150, 200), (20, 35, 60)),
    )


def frames(seconds, width=1280, height=720, fps=30, seed=7):
    "Yield the BGR uint8 frames of the scene."
    rng = np.random.default_rng(seed)
    room = _room(width, height, rng)
    people = []
    for x, y, size, shirt, skin, hair in _PEOPLE:
        sprite, alpha, centre, axes = _person(
            int(height * size), shirt, skin, hair, rng)
        people.append((x, y, sprite, alpha, centre, axes, skin))
    for index in range(round(seconds * fps)):
        t = index / fps
        frame = room.copy()
        for who, (x, y, sprite, alpha, centre, axes, skin) in enumerate(
                people):
            phase = 2.1 * who
            # sway, nod and a slow lean: sub-pixel, as a camera sees
            dx = width * (x + 0.01 * math.sin(0.7 * t + phase)
                + 0.004 * math.sin(2.3 * t)) - centre[0]
            dy = height * (y + 0.008 * math.sin(1.1 * t + phase)) - centre[1]
            angle = 3 * math.sin(0.5 * t + phase)
            matrix = cv2.getRotationMatrix2D(
                (float(centre[0]), float(centre[1])), angle, 1)
            matrix[:, 2] += (dx, dy)
            layer = sprite.copy()
            # eyes blink every 4 s for 0.15 s; the mouth talks
            blink = (t + 1.3 * who) % 4 < 0.15
            for side in (-1, 1):
                eye = (centre[0] + side * int(axes[0] * 0.4),
                    centre[1] - int(axes[1] * 0.08))
                radius = (max(3, axes[0] // 6), 1 if blink else max(
                        2, axes[1] // 12))
                cv2.ellipse(layer, eye, radius, 0, 0, 360, (245, 245, 245),
                    -1, cv2.LINE_AA)
                if not blink:
                    cv2.circle(layer, eye, max(2, axes[1] // 14),
                        (40, 30, 20), -1, cv2.LINE_AA)
            opening = _speaking(t, who)
            cv2.ellipse(layer, (centre[0], centre[1] + int(axes[1] * 0.5)),
                (int(axes[0] * 0.32), max(1, int(axes[1] * 0.16 * opening))),
                0, 0, 360, (60, 50, 120), -1, cv2.LINE_AA)
            # warp into the box the sprite can reach only
            reach = 0.1 * max(sprite.shape)
            x0, y0 = max(0, int(dx - reach)), max(0, int(dy - reach))
            x1 = min(width, int(dx + sprite.shape[1] + reach))
            y1 = min(height, int(dy + sprite.shape[0] + reach))
            matrix[:, 2] -= (x0, y0)
            moved = cv2.warpAffine(layer, matrix, (x1 - x0, y1 - y0),
                flags=cv2.INTER_LINEAR)
            mask = cv2.warpAffine(alpha, matrix, (x1 - x0, y1 - y0),
                flags=cv2.INTER_LINEAR)[..., None]
            box = frame[y0:y1, x0:x1]
            box += (moved - box) * mask
        yield np.clip(frame, 0, 255).astype(np.uint8)


def write_clip(path, seconds, codec='h264', width=1280, height=720, fps=30,
        noise=4):
    """Write seconds of the scene with speech-like sound to path: MP4 (H.264
    + AAC, as phones make) for codec 'h264', WebM (VP8/VP9 + Opus, as the
    browser recorder makes) for 'vp8' / 'vp9'."""
    video = ffmpeg.input('pipe:', f='rawvideo', pix_fmt='bgr24',
        s=f'{width}x{height}', framerate=fps)
    if noise:
        video = video.filter('noise', alls=noise, allf='t', all_seed=1)
    sound = (ffmpeg.input(f"aevalsrc='{testing._SPEECH}':s=48000:d={seconds}",
            f='lavfi')
        .filter('bandpass', f=900, width_type='h', w=1200))
    options = {'ac': 2, 'ar': 48000, 'g': 2 * fps, 'map_metadata': -1}
    if codec == 'h264':
        options.update({'c:v': 'libx264', 'preset': 'veryfast', 'crf': 20,
                'pix_fmt': 'yuv420p', 'c:a': 'aac', 'b:a': '64k',
                'f': 'mp4'})
    else:
        options.update({
                'c:v': 'libvpx' if codec == 'vp8' else 'libvpx-vp9',
                'deadline': 'realtime', 'cpu-used': 8, 'b:v': '2500k',
                'c:a': 'libopus', 'b:a': '32k', 'f': 'webm'})
    args = ffmpeg.compile(ffmpeg.output(video, sound, str(path), **options)
        .global_args('-hide_banner', '-nostdin', '-loglevel', 'error'),
        cmd=media.ffmpeg_executable(), overwrite_output=True)
    process = subprocess.Popen(args, stdin=subprocess.PIPE)
    try:
        for frame in frames(seconds, width, height, fps):
            process.stdin.write(frame.tobytes())
    finally:
        process.stdin.close()
    if process.wait():
        raise RuntimeError(f"ffmpeg failed writing {path}")
    return path


def loop(clip, path, seconds):
    "Write clip repeated to seconds seconds at path, by stream copy."
    subprocess.run([media.ffmpeg_executable(), '-v', 'error', '-nostdin',
            '-y', '-stream_loop', '-1', '-i', str(clip), '-t',
            f'{seconds:.3f}', '-c', 'copy', '-map_metadata', '-1',
            str(path)], check=True)
    return path
