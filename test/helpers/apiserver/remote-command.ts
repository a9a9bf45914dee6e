/**
 * exec / attach / portforward on the apiserver double.
 *
 * WebSocket (what kubectl 1.30+ tries first): the Kubernetes channel protocols
 * `v5.channel.k8s.io` and `v4.channel.k8s.io` — every message is one stream byte (0 stdin,
 * 1 stdout, 2 stderr, 3 error/status, 4 resize) then data; v5 adds `[255, n]` = "stream n is
 * closed" (stdin EOF). The exit status is a Status JSON on channel 3, then close code 1000.
 * Port-forward over WebSocket (`portforward.k8s.io`/`v4.channel.k8s.io`) echoes data per port.
 *
 * SPDY/3.1 (kubectl's fallback, and `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`): the double
 * completes the handshake like kubelet's httpstream.Handshake (negotiating
 * X-Stream-Protocol-Version over the separate header lines, in the client's order) and then
 * only records the bytes it receives: enough to prove a proxy spliced the connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { headerLines } from './identity.js';
import type { Identity } from './rbac.js';
import type { RequestAttributes } from './request-info.js';
import { queryBool } from './request-info.js';
import type { KubeObject, ResourceDef } from './resources.js';
import type { ObjectStore } from './store.js';
import { badRequest, notFound, status, statusText } from './status.js';
import type { PodFilesystems } from './pod-fs.js';
import { runCommand, StdinSource } from './commands.js';
import type { RecordedRequest } from '../apiserver.js';

export interface RecordedUpgrade {
  /** `websocket` or `SPDY/3.1` (the Upgrade header the client sent). */
  protocol: string;
  /** Negotiated subprotocol (Sec-WebSocket-Protocol) or X-Stream-Protocol-Version; '' if none. */
  negotiated: string;
  /** What the client offered, one entry per header line (WebSocket: split on commas as RFC 6455 says). */
  offered: string[];
  subresource: string;
  url: string;
  rawHeaders: string[];
  identity: Identity;
  /** False when the double answered something other than 101. */
  accepted: boolean;
  /** WebSocket: each message; SPDY: raw bytes after the 101 (including any early `head`). */
  received: Buffer[];
}

export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  subresource: 'exec' | 'attach';
  command: string[];
  protocol: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** Bytes received on stdin. */
  stdinBytes: number;
  /** True once stdin EOF (`[255, 0]` on v5) arrived. */
  stdinClosed: boolean;
  /** Resize messages (channel 4), parsed. */
  resizes: unknown[];
  exitCode?: number;
}

export interface RemoteCommandDeps {
  store: ObjectStore;
  podDef: ResourceDef;
  podFiles: PodFilesystems;
  onRefuse(socket: Duplex, head: Buffer, rec: RecordedRequest, code: number, contentType: string, body: string): void;
  logsFor(namespace: string, pod: string): string[];
}

const EXEC_WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const PORTFORWARD_WS_PROTOCOLS = ['v4.channel.k8s.io', 'portforward.k8s.io'];
const EXEC_SPDY_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const PORTFORWARD_SPDY_PROTOCOLS = ['portforward.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE_STREAM = 255;

export function exitStatus(code: number, command: string[]): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  // kubelet's wording (remotecommand/httpstream.go writeStatus + the CRI exit error).
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: command '${command.join(' ')}' exited with ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export function createRemoteCommandHandler(deps: RemoteCommandDeps): {
  upgrades: RecordedUpgrade[];
  execs: ExecRecord[];
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, rec: RecordedRequest, identity: Identity, attrs: RequestAttributes): void;
  closeAll(): void;
} {
  const upgrades: RecordedUpgrade[] = [];
  const execs: ExecRecord[] = [];
  const live = new Set<{ close(): void }>();
  // noServer: the double's own 'upgrade' listener authenticates first, then hands over.
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // The protocol was chosen before handleUpgrade; ws calls this to write the response header.
    handleProtocols: (_offered, req) => (req as IncomingMessage & { negotiated?: string }).negotiated ?? false,
  });

  function recordUpgrade(req: IncomingMessage, identity: Identity, attrs: RequestAttributes, protocol: string, offered: string[], negotiated: string, accepted: boolean): RecordedUpgrade {
    const u: RecordedUpgrade = {
      protocol, negotiated, offered, subresource: attrs.subresource, url: req.url ?? '', rawHeaders: [...req.rawHeaders],
      identity, accepted, received: [],
    };
    upgrades.push(u);
    return u;
  }

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer, rec: RecordedRequest, identity: Identity, attrs: RequestAttributes): void {
    const pod = deps.store.get(deps.podDef, attrs.namespace, attrs.name);
    if (pod === undefined) {
      deps.onRefuse(socket, head, rec, 404, 'application/json', statusText(notFound('', 'pods', attrs.name)));
      return;
    }
    const upgrade = headerLines(req.rawHeaders, 'upgrade')[0]?.trim() ?? '';
    if (upgrade.toLowerCase() === 'websocket') {
      handleWebSocket(req, socket, head, rec, identity, attrs, pod);
    } else if (upgrade.toLowerCase() === 'spdy/3.1') {
      handleSpdy(req, socket, head, rec, identity, attrs);
    } else {
      recordUpgrade(req, identity, attrs, upgrade, [], '', false);
      deps.onRefuse(socket, head, rec, 400, 'application/json', statusText(badRequest(`unsupported upgrade protocol ${JSON.stringify(upgrade)}`)));
    }
  }

  function handleSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, rec: RecordedRequest, identity: Identity, attrs: RequestAttributes): void {
    // Go reads req.Header["X-Stream-Protocol-Version"]: one value per line, never comma-split.
    const offered = headerLines(req.rawHeaders, 'x-stream-protocol-version');
    const supported = attrs.subresource === 'portforward' ? PORTFORWARD_SPDY_PROTOCOLS : EXEC_SPDY_PROTOCOLS;
    const negotiated = offered.find((p) => supported.includes(p)) ?? '';
    if (offered.length === 0 || negotiated === '') {
      recordUpgrade(req, identity, attrs, 'SPDY/3.1', offered, '', false);
      const msg = offered.length === 0
        ? 'unable to upgrade: X-Stream-Protocol-Version is required'
        : `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]`;
      deps.onRefuse(socket, head, rec, 403, 'text/plain; charset=utf-8', `${msg}\n`);
      return;
    }
    const u = recordUpgrade(req, identity, attrs, 'SPDY/3.1', offered, negotiated, true);
    rec.statusCode = 101;
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n'
      + 'Connection: Upgrade\r\n'
      + 'Upgrade: SPDY/3.1\r\n'
      + `X-Stream-Protocol-Version: ${negotiated}\r\n`
      + `Date: ${new Date().toUTCString()}\r\n\r\n`,
    );
    if (head.length > 0) u.received.push(Buffer.from(head));
    socket.on('data', (d: Buffer) => u.received.push(d));
    socket.on('error', () => socket.destroy());
    const entry = { close: () => socket.destroy() };
    live.add(entry);
    socket.on('close', () => live.delete(entry));
  }

  function handleWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, rec: RecordedRequest, identity: Identity, attrs: RequestAttributes, pod: KubeObject): void {
    const offered = headerLines(req.rawHeaders, 'sec-websocket-protocol').flatMap((l) => l.split(',')).map((p) => p.trim()).filter(Boolean);
    const isPortForward = attrs.subresource === 'portforward';
    const supported = isPortForward ? PORTFORWARD_WS_PROTOCOLS : EXEC_WS_PROTOCOLS;
    const negotiated = offered.find((p) => supported.includes(p)) ?? '';
    if (negotiated === '') {
      // E.g. kubectl port-forward's `SPDY/3.1+portforward.k8s.io` tunnel: refusing before the
      // 101 makes kubectl fall back to a plain SPDY upgrade, which the double records.
      recordUpgrade(req, identity, attrs, 'websocket', offered, '', false);
      deps.onRefuse(socket, head, rec, 400, 'application/json', statusText(status(400, 'BadRequest',
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${supported.join(' ')}]`)));
      return;
    }
    const u = recordUpgrade(req, identity, attrs, 'websocket', offered, negotiated, true);
    (req as IncomingMessage & { negotiated?: string }).negotiated = negotiated;
    rec.statusCode = 101;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer) => u.received.push(Buffer.from(data)));
      const entry = { close: () => ws.terminate() };
      live.add(entry);
      ws.on('close', () => live.delete(entry));
      if (isPortForward) portForwardSession(ws, req);
      else void execSession(ws, req, attrs, pod, negotiated);
    });
  }

  function portForwardSession(ws: WebSocket, req: IncomingMessage): void {
    const q = new URL(req.url ?? '/', 'https://x').searchParams;
    const ports = q.getAll('ports').flatMap((p) => p.split(',')).map(Number).filter((n) => n > 0 && n < 65536);
    // Each port gets a data channel (2i) and an error channel (2i+1); the first frame on each
    // carries the port number, little-endian, as kubelet's websocket port-forwarder does.
    ports.forEach((port, i) => {
      for (const ch of [2 * i, 2 * i + 1]) ws.send(Buffer.from([ch, port & 0xff, port >> 8]));
    });
    ws.on('message', (data: Buffer) => {
      const ch = data[0];
      if (ch === undefined || ch % 2 !== 0 || ch / 2 >= ports.length) return;
      ws.send(data); // echo on the same data channel
    });
  }

  async function execSession(ws: WebSocket, req: IncomingMessage, attrs: RequestAttributes, pod: KubeObject, protocol: string): Promise<void> {
    const q = new URL(req.url ?? '/', 'https://x').searchParams;
    const containers = (pod.spec?.containers ?? []) as Array<{ name?: string }>;
    const rec: ExecRecord = {
      namespace: attrs.namespace, pod: attrs.name, container: q.get('container') ?? containers[0]?.name ?? '',
      subresource: attrs.subresource === 'attach' ? 'attach' : 'exec', command: q.getAll('command'), protocol,
      stdin: queryBool(q.getAll('stdin')), stdout: queryBool(q.getAll('stdout')), stderr: queryBool(q.getAll('stderr')),
      tty: queryBool(q.getAll('tty')), stdinBytes: 0, stdinClosed: false, resizes: [],
    };
    execs.push(rec);
    const stdin = new StdinSource();
    const abort = new AbortController();
    const send = (ch: number, data: Buffer | string): void => {
      if (ws.readyState !== ws.OPEN) return;
      const body = typeof data === 'string' ? Buffer.from(data) : data;
      ws.send(Buffer.concat([Buffer.from([ch]), body]));
    };
    ws.on('message', (data: Buffer) => {
      const ch = data[0];
      if (ch === STDIN) {
        stdin.push(data.subarray(1));
        rec.stdinBytes = stdin.bytes;
      } else if (ch === RESIZE) {
        try { rec.resizes.push(JSON.parse(data.subarray(1).toString('utf8'))); } catch { rec.resizes.push(null); }
      } else if (ch === CLOSE_STREAM && protocol === 'v5.channel.k8s.io' && data[1] === STDIN) {
        rec.stdinClosed = true;
        stdin.end();
      }
    });
    ws.on('close', () => {
      stdin.end();
      abort.abort();
    });
    // kubelet writes an empty frame on the lowest writable stream to say "ready".
    send(rec.stdout ? STDOUT : rec.stderr ? STDERR : ERROR, Buffer.alloc(0));
    if (!rec.stdin) stdin.end();

    const io = {
      namespace: attrs.namespace, pod: attrs.name, files: deps.podFiles, stdin, signal: abort.signal,
      stdout: (d: Buffer | string) => { if (rec.stdout) send(STDOUT, d); },
      stderr: (d: Buffer | string) => { if (rec.stderr) send(rec.tty ? STDOUT : STDERR, d); },
    };
    let code: number;
    if (rec.subresource === 'attach') {
      // The "main process": prints the pod's log so far, then echoes stdin until EOF.
      for (const line of deps.logsFor(attrs.namespace, attrs.name)) io.stdout(line);
      code = await runCommand(rec.stdin ? ['cat'] : ['true'], io);
    } else {
      try {
        code = await runCommand(rec.command, io);
      } catch (e) {
        io.stderr(`${(e as Error).message}\n`);
        code = 126;
      }
    }
    rec.exitCode = code;
    if (ws.readyState !== ws.OPEN) return;
    send(ERROR, JSON.stringify(exitStatus(code, rec.command)));
    ws.close(1000);
  }

  return {
    upgrades,
    execs,
    handle,
    closeAll() {
      for (const l of live) l.close();
      live.clear();
      wss.close();
    },
  };
}
