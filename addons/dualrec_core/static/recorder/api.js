// This file is part of the dualrec suite.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
// The JSON API of the server (/<database>/dualrec/api/v1), as the recorder
// uses it.  Every failure is an ApiError with the server's code and message
// (already in the user's language), or code 'network' when it was not
// reached at all.
import { t, language } from './i18n.js';

export class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
    get transient() {
        // worth trying again later: no answer, or the server is busy
        return this.status === 0 || this.status >= 500 || this.status === 408
            || this.status === 429;
    }
}

export class Api {
    constructor(storage = window.localStorage) {
        this.storage = storage;
        this.db = storage.getItem('dualrec.db') || '';
        this.token = storage.getItem('dualrec.token') || '';
        this.onUnauthorized = () => {};
    }

    get base() {
        return `/${encodeURIComponent(this.db)}/dualrec/api/v1`;
    }

    headers(json = true) {
        const headers = { 'Accept-Language': language() };
        if (json) headers['Content-Type'] = 'application/json';
        if (this.token) headers.Authorization = `Bearer ${this.token}`;
        return headers;
    }

    async call(method, path, body) {
        let response;
        try {
            response = await fetch(this.base + path, {
                method,
                headers: this.headers(),
                body: body === undefined ? undefined : JSON.stringify(body),
                cache: 'no-store',
            });
        } catch (error) {
            throw new ApiError(0, 'network', t('The server cannot be reached. Check the network.'));
        }
        let data = null;
        try {
            data = await response.json();
        } catch (error) {
            data = null;
        }
        if (!response.ok) {
            if (response.status === 401 && path !== '/login') {
                this.onUnauthorized();
            }
            throw new ApiError(response.status,
                (data && data.code) || `http_${response.status}`,
                (data && data.message) || t('The server answered with an error ({status}).', { status: response.status }));
        }
        return data;
    }

    async login(db, login, password) {
        this.db = db;
        const data = await this.call('POST', '/login', { login, password });
        this.token = data.token;
        this.storage.setItem('dualrec.db', db);
        this.storage.setItem('dualrec.token', data.token);
        return data;
    }

    async logout() {
        try {
            await this.call('POST', '/logout');
        } finally {
            this.forget();
        }
    }

    forget() {
        this.token = '';
        this.storage.removeItem('dualrec.token');
    }

    // Send blob at offset of upload; onProgress(bytes sent of this blob).
    // XMLHttpRequest, not fetch: fetch tells nothing of the upload progress.
    putChunk(uploadId, offset, blob, onProgress) {
        return new Promise((resolve, reject) => {
            const xhr = new XMLHttpRequest();
            xhr.open('PUT', `${this.base}/uploads/${encodeURIComponent(uploadId)}?offset=${offset}`);
            for (const [name, value] of Object.entries(this.headers(false))) {
                xhr.setRequestHeader(name, value);
            }
            xhr.setRequestHeader('Content-Type', 'application/octet-stream');
            xhr.upload.onprogress = (event) => onProgress && onProgress(event.loaded);
            xhr.onerror = () => reject(new ApiError(0, 'network', t('The server cannot be reached. Check the network.')));
            xhr.ontimeout = xhr.onerror;
            xhr.onload = () => {
                let data = null;
                try {
                    data = JSON.parse(xhr.responseText);
                } catch (error) {
                    data = null;
                }
                if (xhr.status >= 200 && xhr.status < 300) {
                    resolve(data);
                } else {
                    reject(new ApiError(xhr.status, (data && data.code) || `http_${xhr.status}`,
                        (data && data.message) || t('The server answered with an error ({status}).', { status: xhr.status })));
                }
            };
            xhr.send(blob);
        });
    }
}

// The databases of the server (trytond's JSON-RPC), for the login screen.
export async function listDatabases() {
    try {
        const response = await fetch('/rpc/', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ id: 1, method: 'common.db.list', params: [] }),
        });
        const data = await response.json();
        return Array.isArray(data.result) ? data.result : [];
    } catch (error) {
        return [];
    }
}
