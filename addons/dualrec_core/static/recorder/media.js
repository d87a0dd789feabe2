// This file is part of the dualrec suite.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
// Camera, microphone and the recorded picture.  The picture is drawn on a
// canvas with the ticket number and the time stamped in, so that the
// recording itself (not only the screen) shows when and for what it was made.

export const WIDTH = 640;
export const FPS = 20;

export function recorderSupported() {
    return Boolean(window.MediaRecorder && navigator.mediaDevices
        && navigator.mediaDevices.getUserMedia && window.isSecureContext);
}

// MP4 (H.264 + AAC) where the browser records it, otherwise WebM.
export function pickMimeType() {
    const candidates = [
        'video/mp4;codecs=avc1.42E01E,mp4a.40.2',
        'video/mp4',
        'video/webm;codecs=vp8,opus',
        'video/webm;codecs=vp9,opus',
        'video/webm',
    ];
    return candidates.find((type) => MediaRecorder.isTypeSupported(type)) || '';
}

export async function openCamera() {
    return navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' },
        audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
}

export function closeStream(stream) {
    if (stream) {
        for (const track of stream.getTracks()) track.stop();
    }
}

// The loudness of the microphone, 0 (silence) to 1.
export class LevelMeter {
    constructor(stream) {
        const Context = window.AudioContext || window.webkitAudioContext;
        this.context = new Context();
        this.analyser = this.context.createAnalyser();
        this.analyser.fftSize = 1024;
        this.samples = new Float32Array(this.analyser.fftSize);
        this.source = this.context.createMediaStreamSource(stream);
        this.source.connect(this.analyser);
    }

    level() {
        this.analyser.getFloatTimeDomainData(this.samples);
        let sum = 0;
        for (const value of this.samples) sum += value * value;
        return Math.min(1, Math.sqrt(sum / this.samples.length) * 4);
    }

    close() {
        this.source.disconnect();
        this.context.close();
    }
}

// The mean luma (0-255) of what video shows, from a small copy of it.
export function brightness(video) {
    if (!video.videoWidth) return null;
    const canvas = brightness.canvas || (brightness.canvas = document.createElement('canvas'));
    canvas.width = 32;
    canvas.height = 18;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    context.drawImage(video, 0, 0, 32, 18);
    const { data } = context.getImageData(0, 0, 32, 18);
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) {
        sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    }
    return sum / (data.length / 4);
}

// Draws the camera on a canvas with caption() (lines of text) stamped in
// the corner; stream() is what MediaRecorder records: the canvas's picture
// and the microphone's sound.
export class Compositor {
    constructor(video, camera, caption) {
        this.video = video;
        this.camera = camera;
        this.caption = caption;
        const settings = camera.getVideoTracks()[0].getSettings();
        const ratio = (settings.height && settings.width) ? settings.height / settings.width : 9 / 16;
        this.canvas = document.createElement('canvas');
        this.canvas.width = WIDTH;
        this.canvas.height = Math.round((WIDTH * ratio) / 2) * 2;
        this.context = this.canvas.getContext('2d');
        // a timer, not requestAnimationFrame: it keeps drawing when the
        // page is hidden (a phone's screen locked mid-sale)
        this.timer = setInterval(() => this.draw(), 1000 / FPS);
        this.draw();
    }

    draw() {
        const { context, canvas } = this;
        if (this.video.readyState >= 2) {
            context.drawImage(this.video, 0, 0, canvas.width, canvas.height);
        }
        const lines = this.caption();
        const size = Math.round(canvas.height / 24);
        context.font = `${size}px sans-serif`;
        const width = Math.max(...lines.map((line) => context.measureText(line).width));
        context.fillStyle = 'rgba(0, 0, 0, 0.55)';
        context.fillRect(8, 8, width + 16, lines.length * (size + 6) + 10);
        context.fillStyle = '#fff';
        lines.forEach((line, index) => context.fillText(line, 16, 8 + (index + 1) * (size + 6)));
    }

    stream() {
        const picture = this.canvas.captureStream(FPS);
        return new MediaStream([...picture.getVideoTracks(), ...this.camera.getAudioTracks()]);
    }

    close() {
        clearInterval(this.timer);
    }
}
