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
}

/** One HTTPS request to a URL; resolves with the full response, rejects on network errors or timeout. */
export function httpsRequest(url: string, opts: HttpsRequestOptions = {}): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port,
      path: `${u.pathname}${u.search}`,
      method: opts.method ?? 'GET',
      // An array is passed through as raw header lines (repeated names kept as separate lines).
      headers: opts.headers as OutgoingHttpHeaders,
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
