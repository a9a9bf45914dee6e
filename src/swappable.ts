// A holder for a component that a reload may replace: readers take `current` at use, the reload swaps it.

/** What a reader of a swappable component sees: the component serving now. Read it at use, never keep it. */
export interface Current<T> {
  readonly current: T
}

/**
 * One live component behind a stable reference. The request path holds the holder, not the component, so
 * a reload can put a new one in place: new requests use the new component, requests already running finish
 * on the one they started with.
 */
export class Swappable<T> implements Current<T> {
  #value: T

  constructor (initial: T) {
    this.#value = initial
  }

  get current (): T {
    return this.#value
  }

  /** Puts `next` in place and returns the component it replaced (for the caller to close). */
  swap (next: T): T {
    const old = this.#value
    this.#value = next
    return old
  }
}
