/** Response helpers shared by the HTTP and upgrade paths of the apiserver double. */
import { STATUS_CODES } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';

/** Headers every apiserver response carries (values are per-response). */
export function apiserverHeaders(): Record<string, string> {
  return {
    'Audit-Id': randomUUID(),
    'Cache-Control': 'no-cache, private',
    'X-Kubernetes-Pf-Flowschema-Uid': '00000000-0000-0000-0000-000000000001',
    'X-Kubernetes-Pf-Prioritylevel-Uid': '00000000-0000-0000-0000-000000000002',
  };
}

export function sendBody(res: ServerResponse, code: number, body: string | Buffer, contentType: string, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(code, {
    ...apiserverHeaders(),
    'Content-Type': contentType,
    'Content-Length': String(buf.length),
    ...(contentType.startsWith('text/plain') ? { 'X-Content-Type-Options': 'nosniff' } : {}),
    ...extra,
  });
  res.end(buf);
}

/** JSON as the apiserver's serializer writes it: compact, with a trailing newline. */
export function sendJson(res: ServerResponse, code: number, obj: unknown, extra: Record<string, string> = {}): void {
  sendBody(res, code, `${JSON.stringify(obj)}\n`, 'application/json', extra);
}

/** A complete HTTP/1.1 response written straight to a socket (the upgrade path has no ServerResponse). */
export function rawResponse(code: number, contentType: string, body: string | Buffer, extra: Record<string, string> = {}): Buffer {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = {
    ...apiserverHeaders(),
    'Content-Type': contentType,
    'Content-Length': String(buf.length),
    Date: new Date().toUTCString(),
    ...extra,
  };
  const head = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`];
  for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), buf]);
}

export function writeRaw(socket: Duplex, data: Buffer): void {
  if (!socket.destroyed && socket.writable) socket.write(data);
}
