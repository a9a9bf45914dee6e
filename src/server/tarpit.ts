// Holds the answers to clients over their failed-authentication budget for a while (HAProxy's tarpit), a bounded number at a time.
import type { EventEmitter } from 'node:events'

export interface TarpitOptions {
  /** How long an answer is held. */
  readonly delayMs: number
  /** Answers held at once; beyond it answers go out at once (a held answer keeps its socket and request open). */
  readonly maxHeld: number
}

/**
 * A client over its failed-authentication budget has its 429 answered after `delayMs` instead of at once.
 * Flood tools wait for each answer before sending the next request on a connection, so a held answer takes
 * that connection out of the flood for the delay: 64 connections sending forged tokens as fast as they are
 * answered (bench scenario 4) send 64 a second instead of thousands, and stop taking the CPU that valid users
 * need. The set is bounded (`maxHeld`): past it, answers go out at once, which is what no tarpit does, so
 * opening more connections than the bound costs the proxy no more than without one. A client that closes
 * its connection while held is forgotten at once.
 */
export class Tarpit {
  readonly #delayMs: number
  readonly #maxHeld: number
  #held = 0

  constructor (options: TarpitOptions) {
    this.#delayMs = options.delayMs
    this.#maxHeld = options.maxHeld
  }

  /** Answers being held now. */
  get held (): number {
    return this.#held
  }

  /**
   * Runs `answer` after the delay, or now when the set is full. `connection` is what closes when the client
   * goes away (the ServerResponse, or the socket of an upgrade): `answer` is then never run.
   */
  hold (connection: EventEmitter, answer: () => void): void {
    if (this.#held >= this.#maxHeld) {
      answer()
      return
    }
    this.#held++
    const release = (): void => {
      clearTimeout(timer)
      connection.off('close', release)
      this.#held--
    }
    const timer = setTimeout(() => {
      release()
      answer()
    }, this.#delayMs)
    connection.once('close', release)
  }
}

/** The tarpit from `server.failedAuthPerAddress`, or undefined when its delay is 0. */
export function buildTarpit (config: { readonly tarpitSeconds: number, readonly maxTarpitted: number }): Tarpit | undefined {
  if (config.tarpitSeconds === 0) return undefined
  return new Tarpit({ delayMs: config.tarpitSeconds * 1000, maxHeld: config.maxTarpitted })
}
