// This file is part of the dualrec suite.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
// What the recorder keeps on the device, in IndexedDB, until the server has
// it: 'recordings' holds one description per recording (ticket, timeline,
// state of its upload), 'chunks' the MediaRecorder blobs by [key, seq].
// A closed tab, a crash or a dead network loses nothing written here.
const NAME = 'dualrec-recorder';
const VERSION = 1;
let opening = null;

function promised(request) {
    return new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
}

function done(transaction) {
    return new Promise((resolve, reject) => {
        transaction.oncomplete = () => resolve();
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error || new Error('aborted'));
    });
}

export function open() {
    if (!opening) {
        opening = new Promise((resolve, reject) => {
            const request = indexedDB.open(NAME, VERSION);
            request.onupgradeneeded = () => {
                const db = request.result;
                db.createObjectStore('recordings', { keyPath: 'key' });
                db.createObjectStore('chunks', { keyPath: ['key', 'seq'] });
            };
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
        });
    }
    return opening;
}

export async function putRecording(recording) {
    const db = await open();
    const transaction = db.transaction('recordings', 'readwrite');
    transaction.objectStore('recordings').put(recording);
    await done(transaction);
    return recording;
}

export async function getRecording(key) {
    const db = await open();
    return promised(db.transaction('recordings').objectStore('recordings').get(key));
}

export async function listRecordings() {
    const db = await open();
    const all = await promised(db.transaction('recordings').objectStore('recordings').getAll());
    return all.sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
}

export async function addChunk(key, seq, blob) {
    const db = await open();
    const transaction = db.transaction('chunks', 'readwrite');
    transaction.objectStore('chunks').put({ key, seq, blob });
    await done(transaction);
}

function chunkRange(key) {
    return IDBKeyRange.bound([key, 0], [key, Number.MAX_SAFE_INTEGER]);
}

export async function getChunks(key) {
    const db = await open();
    const rows = await promised(db.transaction('chunks').objectStore('chunks').getAll(chunkRange(key)));
    return rows.sort((a, b) => a.seq - b.seq).map((row) => row.blob);
}

// Remove the media of a recording, keeping (keep) or not its description.
export async function dropMedia(key, keep = true) {
    const db = await open();
    const transaction = db.transaction(['recordings', 'chunks'], 'readwrite');
    transaction.objectStore('chunks').delete(chunkRange(key));
    if (!keep) transaction.objectStore('recordings').delete(key);
    await done(transaction);
}
