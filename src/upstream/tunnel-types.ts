// The upgrade tunnel's data: its settings, one upgrade attempt's inputs, and its outcome.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { KubegateError } from '../errors.js'
import type { UpstreamTarget } from './target.js'

export interface TunnelOptions {
  readonly target: UpstreamTarget
  /** Connect + TLS + the apiserver's whole answer to the upgrade request (101 head, or a refusal and its body). */
  readonly responseTimeoutMs: number
  /** Both directions idle this long: the session is closed (0: never). */
  readonly idleTimeoutMs: number
  /** TCP keep-alive probes on both sockets of a spliced session, so a vanished peer frees its slot (0: off). */
  readonly keepAliveMs?: number
  /** Largest refusal body relayed to the client (a Status is a few hundred bytes). */
  readonly maxRelayedBodyBytes?: number
}

/** TunnelOptions with every default filled in and the Host header computed once. */
export interface TunnelSettings {
  readonly target: UpstreamTarget
  readonly hostHeader: string
  readonly responseTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly keepAliveMs: number
  readonly maxRelayedBodyBytes: number
}

export interface TunnelRequest {
  readonly req: IncomingMessage
  readonly client: Socket
  /** Bytes the client sent after its request head: written upstream only after a matching 101. */
  readonly head: Buffer
  /** Client headers to forward plus kubegate's Authorization and Impersonate-* lines, flat. */
  readonly headers: readonly string[]
  /** The client's Upgrade value (`websocket` or `SPDY/3.1`), checked by the caller. */
  readonly upgrade: string
  /** Subprotocols to offer upstream (the bearer-token protocol already removed); WebSocket only. */
  readonly wsProtocols: readonly string[] | undefined
}

export interface TunnelResult {
  /** The apiserver's status (101 when spliced), kubegate's own error status, or 499 (client went away first). */
  status: number
  spliced: boolean
  upstreamMs: number | undefined
  /** Bytes from the client to the apiserver after the 101 (including `head`). */
  bytesIn: number
  /** Bytes from the apiserver to the client after the 101 head, or the relayed refusal body. */
  bytesOut: number
  error: KubegateError | undefined
}

export interface Tunneler {
  /**
   * Opens a fresh TLS connection (never pooled, never reused), sends the upgrade request, and splices the
   * two sockets only if the apiserver answers 101 with the requested protocol. Any other answer is relayed
   * with `Connection: close` and both sockets end (CVE-2018-1002105: nothing the client sends afterwards
   * may reach the apiserver on a connection authenticated as kubegate). Returns a function that ends the
   * tunnel at any stage (revocation, shutdown, a per-user session registry); `done` is called exactly once,
   * when both sockets are closed or being closed.
   */
  tunnel: (t: TunnelRequest, done: (r: TunnelResult) => void) => () => void
}
