// A spliced upgrade session: the client and apiserver sockets joined after a matching 101, until both are finished.
import type { Socket } from 'node:net'
import { linger } from './linger.js'
import { WsFrameTracker, wsCloseFrame } from './ws-frames.js'

export interface SplicedSessionOptions {
  /** Both directions idle this long: the session is torn down (0: never). */
  readonly idleTimeoutMs: number
  /** TCP keep-alive probes on both sockets (0: off). */
  readonly keepAliveMs: number
  /** A WebSocket session: frame boundaries are followed so a close can send close frames. */
  readonly websocket: boolean
}

/** How long the peers get to answer kubegate's close frames before both sockets are destroyed. */
const CLOSE_GRACE_MS = 1000

/**
 * Joins two sockets with backpressure both ways and carries half-closes across; counts the bytes; ends on
 * idleness, on an error of either side, when both sides are closed, or on `close()`. `onEnd` is called once.
 */
export class SplicedSession {
  readonly #client: Socket
  readonly #up: Socket
  readonly #options: SplicedSessionOptions
  readonly #onEnd: () => void
  /** Frame boundaries per direction (WebSocket only), so a close never cuts a frame in half. */
  readonly #toClient: WsFrameTracker | undefined
  readonly #toUpstream: WsFrameTracker | undefined
  #bytesIn = 0
  #bytesOut = 0
  #clientClosed = false
  #upClosed = false
  #ended = false

  constructor (client: Socket, up: Socket, options: SplicedSessionOptions, onEnd: () => void) {
    this.#client = client
    this.#up = up
    this.#options = options
    this.#onEnd = onEnd
    this.#toClient = options.websocket ? new WsFrameTracker() : undefined
    this.#toUpstream = options.websocket ? new WsFrameTracker() : undefined
  }

  /** Bytes from the client to the apiserver (including the client's early bytes). */
  get bytesIn (): number { return this.#bytesIn }
  /** Bytes from the apiserver to the client after the 101 head. */
  get bytesOut (): number { return this.#bytesOut }
  get ended (): boolean { return this.#ended }

  /**
   * Writes the 101 head and the bytes the apiserver sent with it to the client, then — only now, after a
   * matching 101 (invariant 5) — the client's early bytes upstream, and joins the sockets.
   */
  start (switchingHead: Buffer, upHead: Buffer, clientHead: Buffer): void {
    this.#client.setNoDelay(true)
    this.#client.write(switchingHead)
    if (upHead.length > 0) this.#toClientBytes(upHead, true)
    if (clientHead.length > 0) this.#toUpstreamBytes(clientHead, true)
    this.#watchEnds()
    this.#join()
    this.#armTimers()
  }

  /**
   * Shutdown or revocation: WebSocket sessions get a close frame each way (1001 Going Away) when both
   * directions sit between frames, so kubectl reports a closed session rather than a broken one; the
   * sockets are destroyed shortly after whatever the peers do. SPDY and mid-frame sessions are cut.
   */
  close (): void {
    if (this.#ended) return
    const client = this.#client
    const up = this.#up
    if (this.#toClient === undefined || this.#toUpstream === undefined || !this.#toClient.atBoundary ||
      !this.#toUpstream.atBoundary || client.destroyed || up.destroyed) {
      this.#tearDown()
      return
    }
    up.unpipe(client)
    client.unpipe(up)
    up.pause()
    client.pause()
    client.end(wsCloseFrame(1001, false))
    up.end(wsCloseFrame(1001, true))
    const t = setTimeout(() => this.#tearDown(), CLOSE_GRACE_MS)
    t.unref()
  }

  /** Counts (and, when `write`, writes) bytes on their way to the client. */
  #toClientBytes (c: Buffer, write: boolean): void {
    this.#bytesOut += c.length
    this.#toClient?.push(c)
    if (write) this.#client.write(c)
  }

  /** Counts (and, when `write`, writes) bytes on their way to the apiserver. */
  #toUpstreamBytes (c: Buffer, write: boolean): void {
    this.#bytesIn += c.length
    this.#toUpstream?.push(c)
    if (write) this.#up.write(c)
  }

  /**
   * An error on either side tears the session down. A side that is gone entirely (both directions) cannot
   * receive anything more: the other side gets its pending bytes flushed, a FIN, and a short linger.
   * Half-closes (one direction's FIN) are carried across by pipe(), and the session stays up until both
   * directions have ended.
   */
  #watchEnds (): void {
    const tearDown = (): void => this.#tearDown()
    this.#client.on('error', tearDown)
    this.#up.on('error', tearDown)
    this.#client.once('close', () => {
      this.#clientClosed = true
      if (!this.#upClosed) linger(this.#up)
      this.#endIfBothClosed()
    })
    this.#up.once('close', () => {
      this.#upClosed = true
      if (!this.#clientClosed) linger(this.#client)
      this.#endIfBothClosed()
    })
  }

  /**
   * pipe(): backpressure both ways (a slow reader pauses the other side's socket), and end() of the
   * destination when the source ends — the FIN of `exec -i` over a raw stream reaches the apiserver.
   */
  #join (): void {
    this.#up.on('data', (c: Buffer) => this.#toClientBytes(c, false))
    this.#client.on('data', (c: Buffer) => this.#toUpstreamBytes(c, false))
    this.#client.pipe(this.#up)
    this.#up.pipe(this.#client)
  }

  /**
   * Idle in both directions: each socket's timer resets on its own reads and writes, and every byte crosses
   * both sockets, so either timer firing means the whole session was quiet that long. setTimeout(0) also
   * clears a keep-alive timeout the server may have left on a reused client socket.
   */
  #armTimers (): void {
    const { idleTimeoutMs, keepAliveMs } = this.#options
    this.#client.setTimeout(idleTimeoutMs)
    this.#up.setTimeout(idleTimeoutMs)
    if (idleTimeoutMs > 0) {
      this.#client.once('timeout', () => this.#tearDown())
      this.#up.once('timeout', () => this.#tearDown())
    }
    if (keepAliveMs > 0) {
      this.#client.setKeepAlive(true, keepAliveMs)
      this.#up.setKeepAlive(true, keepAliveMs)
    }
  }

  #endIfBothClosed (): void {
    if (this.#clientClosed && this.#upClosed) this.#end()
  }

  /** Tear down: both sockets destroyed at once. */
  #tearDown (): void {
    this.#client.destroy()
    this.#up.destroy()
    this.#end()
  }

  #end (): void {
    if (this.#ended) return
    this.#ended = true
    this.#onEnd()
  }
}
