// WebSocket framing the spliced tunnel needs: frame-boundary tracking per direction and a close frame.
import { randomBytes } from 'node:crypto'

/**
 * Follows RFC 6455 frame boundaries in one direction of a spliced WebSocket (headers parsed byte by byte,
 * payloads skipped in bulk: this runs on every chunk of an exec session, so it never copies).
 */
export class WsFrameTracker {
  readonly #hdr = Buffer.alloc(14)
  #hdrLen = 0
  #need = 2
  #payload = 0

  get atBoundary (): boolean {
    return this.#hdrLen === 0 && this.#payload === 0
  }

  push (chunk: Buffer): void {
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.#payload > 0) {
        const k = Math.min(this.#payload, n - i)
        this.#payload -= k
        i += k
        continue
      }
      this.#hdr[this.#hdrLen++] = chunk[i++] as number
      if (this.#hdrLen === 2) {
        const b = this.#hdr[1] as number
        const len7 = b & 0x7f
        this.#need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b & 0x80) !== 0 ? 4 : 0)
      }
      if (this.#hdrLen >= 2 && this.#hdrLen === this.#need) {
        const len7 = (this.#hdr[1] as number) & 0x7f
        this.#payload = len7 === 126 ? this.#hdr.readUInt16BE(2) : len7 === 127 ? Number(this.#hdr.readBigUInt64BE(2)) : len7
        this.#hdrLen = 0
        this.#need = 2
      }
    }
  }
}

/** A close frame with a status code and no reason; masked when kubegate speaks as the client (to the apiserver). */
export function wsCloseFrame (code: number, masked: boolean): Buffer {
  const payload = Buffer.from([code >> 8, code & 0xff])
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload])
  const mask = randomBytes(4)
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number)
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload])
}
