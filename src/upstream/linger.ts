// Graceful end of a socket kubegate is finished with: FIN after what is buffered, then destroy after a linger.
import type { Duplex } from 'node:stream'

/** After kubegate has ended a socket, how long the peer gets to read what was written before it is destroyed. */
export const LINGER_MS = 2000

/**
 * Ends a socket gracefully (FIN after what is buffered), discards whatever the peer still sends, and
 * destroys it after a short linger. Destroying at once could turn the close into an RST that makes the
 * peer drop the response it has not read yet; never destroying would let a silent peer pin the socket.
 */
export function linger (s: Duplex): void {
  if (s.destroyed) return
  s.end()
  s.resume()
  const t = setTimeout(() => s.destroy(), LINGER_MS)
  t.unref()
  s.once('close', () => clearTimeout(t))
}
