// This file is part of the dualrec suite.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
// Uploads the recordings kept on the device, resuming from the ranges the
// server already has.  A cut network is waited out (retried with back-off
// and at once when the browser is online again); local media is dropped
// only once the server has checked the whole file (size and SHA-256).
import * as store from './store.js';

const MAX_DELAY = 30000;

function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

function sleep(ms, signal) {
    return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('wake', () => {
            clearTimeout(timer);
            resolve();
        }, { once: true });
    });
}

export class Uploader {
    // onChange() is called when a recording's state changes; progress (an
    // object, reactive in the app) gets the percentage sent by key.
    constructor(api, onChange, progress = {}) {
        this.api = api;
        this.onChange = onChange;
        this.running = new Map();
        this.progress = progress;
        this.wakeup = new EventTarget();
        window.addEventListener('online', () => this.wake());
    }

    wake() {
        this.wakeup.dispatchEvent(new Event('wake'));
    }

    // Upload every recording that waits (at start and after a stop).
    async resumeAll() {
        for (const recording of await store.listRecordings()) {
            if (recording.status === 'waiting' || recording.status === 'uploading') {
                this.start(recording.key);
            }
        }
    }

    start(key) {
        if (!this.running.has(key)) {
            const run = this.run(key).finally(() => {
                this.running.delete(key);
                this.onChange();
            });
            this.running.set(key, run);
        }
        return this.running.get(key);
    }

    async update(recording, values) {
        Object.assign(recording, values);
        await store.putRecording(recording);
        this.onChange();
        return recording;
    }

    async run(key) {
        let delay = 1000;
        for (;;) {
            const recording = await store.getRecording(key);
            if (!recording || !['waiting', 'uploading'].includes(recording.status)) return;
            try {
                await this.upload(recording);
                return;
            } catch (error) {
                if (!error.transient) {
                    await this.update(recording, { status: 'error', error: error.message, errorCode: error.code });
                    return;
                }
                await this.update(recording, { error: error.message });
                await sleep(delay, this.wakeup);
                delay = Math.min(delay * 2, MAX_DELAY);
            }
        }
    }

    async upload(recording) {
        const blob = new Blob(await store.getChunks(recording.key), { type: recording.mimeType });
        if (!recording.sha256 || recording.size !== blob.size) {
            const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
            await this.update(recording, { size: blob.size, sha256: hex(digest) });
        }
        if (!recording.uploadId) {
            const started = await this.api.call('POST', '/uploads', {
                ticket: recording.ticket.id,
                size: recording.size,
                sha256: recording.sha256,
                content_type: recording.mimeType.split(';')[0],
                // an interrupted recording: the nodes never shown are left out
                timeline: recording.timeline.filter((node) => node.started_at),
                device: recording.device,
                browser: navigator.userAgent.slice(0, 200),
            });
            await this.update(recording, { uploadId: started.id, chunkSize: started.chunk_size });
        }
        await this.update(recording, { status: 'uploading', error: null });
        let state;
        try {
            state = await this.api.call('GET', `/uploads/${recording.uploadId}`);
        } catch (error) {
            if (error.status !== 404) throw error;
            state = { state: 'expired' };
        }
        if (state.state === 'failed' || state.state === 'expired') {
            // the server dropped the session (expired, bad checksum): anew
            await this.update(recording, { uploadId: null });
            return this.upload(recording);
        }
        if (state.state === 'open') {
            let sent = state.received_bytes || 0;
            this.setProgress(recording, sent);
            for (const [start, end] of state.missing || []) {
                for (let offset = start; offset < end; offset += recording.chunkSize) {
                    const stop = Math.min(end, offset + recording.chunkSize);
                    state = await this.api.putChunk(recording.uploadId, offset, blob.slice(offset, stop),
                        (loaded) => this.setProgress(recording, sent + loaded));
                    sent += stop - offset;
                    this.setProgress(recording, sent);
                }
            }
            const completed = await this.api.call('POST', `/uploads/${recording.uploadId}/complete`);
            state = { recording: completed.recording.id, state: completed.state };
        }
        const verifying = state.state === 'verifying';
        await this.update(recording, {
            status: 'sent', recordingId: state.recording, error: null, sentAt: new Date().toISOString(),
            verifying,
        });
        delete this.progress[recording.key];
        // the server has it, checked: the device's copy may go; while the
        // server checks it, the app keeps it (App.refresh drops it)
        if (!verifying) await store.dropMedia(recording.key);
    }

    setProgress(recording, bytes) {
        this.progress[recording.key] = Math.min(100, Math.floor((100 * bytes) / recording.size));
    }
}
