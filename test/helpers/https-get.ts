/**
 * A tiny HTTPS client for self-tests and integration tests: no redirects followed, no
 * pooling (a fresh agent per call), everything recorded raw. Using node:https rather than
 * undici keeps the double's tests independent of the library kubegate forwards with.
 */
import { request } from 'node:https';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export interface HttpsResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
  /** `JSON.parse(text)`; throws if the body is not JSON. */
  json<T = unknown>(): T;
}

export interface HttpsRequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders | readonly string[];
  body?: string | Buffer;
  ca?: string;
  /** Client certificate (mTLS). */
  cert?: string;
  key?: string;
  timeoutMs?: number;
  /** Send this request target verbatim (URL parsing would normalise `..` and percent-encoding). */
  target?: string;
}

/**
 * Node adds no Host header when headers are given as a raw array; HTTP/1.1 servers (Node's
 * included) answer 400 without one, so add it unless the caller set one.
 */
function withHost(headers: HttpsRequestOptions['headers'], u: URL): HttpsRequestOptions['headers'] {
  if (!Array.isArray(headers)) return headers;
  const list = headers as readonly string[];
  for (let i = 0; i < list.length; i += 2) if ((list[i] ?? '').toLowerCase() === 'host') return headers;
  return ['Host', u.host, ...list];
}

/** One HTTPS request to a URL; resolves with the full response, rejects on network errors or timeout. */
export function httpsRequest(url: string, opts: HttpsRequestOptions = {}): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port,
      path: opts.target ?? `${u.pathname}${u.search}`,
      method: opts.method ?? 'GET',
      // An array is passed through as raw header lines (repeated names kept as separate lines).
      headers: withHost(opts.headers, u) as OutgoingHttpHeaders,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      agent: false,
      servername: u.hostname.startsWith('[') || /^\d/.test(u.hostname) ? undefined : u.hostname,
      timeout: opts.timeoutMs ?? 10_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text,
          json: <T>() => JSON.parse(text) as T,
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`httpsRequest: timeout after ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface HttpsStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** Everything received so far, as text. */
  text(): string;
  /** Resolve when the received text matches; reject on timeout or end of stream first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  close(): void;
}

/** Open a streaming GET (watch, log -f): resolves once the response headers arrived. */
export function httpsStream(url: string, opts: HttpsRequestOptions = {}): Promise<HttpsStream> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({
      host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: opts.method ?? 'GET',
      headers: withHost(opts.headers, u) as OutgoingHttpHeaders, ca: opts.ca, agent: false,
    }, (res) => {
      req.setTimeout(0); // the timeout guards the headers only; a watch may be idle for long
      let text = '';
      const listeners = new Set<() => void>();
      let isEnded = false;
      const ended = new Promise<void>((r) => res.on('close', () => { isEnded = true; for (const l of listeners) l(); r(); }));
      res.on('data', (c: Buffer) => { text += c.toString('utf8'); for (const l of listeners) l(); });
      res.on('error', () => { /* surfaced through `ended` */ });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        ended,
        waitFor(re, timeoutMs = 5000) {
          return new Promise((res2, rej2) => {
            const check = (): void => {
              const m = re.exec(text);
              if (m !== null) { done(); res2(m[0]); } else if (isEnded) { done(); rej2(new Error(`stream ended before ${re}: ${text}`)); }
            };
            const timer = setTimeout(() => { done(); rej2(new Error(`timeout waiting for ${re}: ${text}`)); }, timeoutMs);
            const done = (): void => { clearTimeout(timer); listeners.delete(check); };
            listeners.add(check);
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('httpsStream: no response headers in time')));
    req.on('error', reject);
    req.end(opts.body);
  });
}
