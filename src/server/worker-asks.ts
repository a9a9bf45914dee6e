// The primary's questions to its workers over IPC (their metrics, their readiness) and the workers' answers.
import type { IpcChannel } from '../store/ipc-protocol.js'

const ASK_TAG = 'kubegate:ask'

export type AskKind = 'metrics' | 'readiness'

interface Ask { readonly t: typeof ASK_TAG, readonly id: number, readonly ask: AskKind }
interface Answer { readonly t: typeof ASK_TAG, readonly id: number, readonly value?: unknown, readonly error?: string }

function isAsk (m: unknown): m is Ask {
  return typeof m === 'object' && m !== null && (m as Ask).t === ASK_TAG && typeof (m as Ask).id === 'number' && typeof (m as Ask).ask === 'string'
}

function isAnswer (m: unknown): m is Answer {
  return typeof m === 'object' && m !== null && (m as Answer).t === ASK_TAG && typeof (m as Answer).id === 'number' && !('ask' in m)
}

/** A worker's side: answers each ask with its function. Returns the function that stops answering. */
export function answerAsks (channel: IpcChannel, answers: Readonly<Record<AskKind, () => unknown>>): () => void {
  return channel.onMessage((m) => {
    if (!isAsk(m)) return
    const reply = (a: Omit<Answer, 't' | 'id'>): void => {
      try {
        channel.send({ t: ASK_TAG, id: m.id, ...a }, () => undefined)
      } catch {
        // The primary is gone.
      }
    }
    const fn = answers[m.ask] as (() => unknown) | undefined
    if (fn === undefined) {
      reply({ error: `unknown question ${String(m.ask)}` })
      return
    }
    Promise.resolve().then(fn).then((value) => reply({ value }), (err: unknown) => reply({ error: (err as Error).message }))
  })
}

/** The primary's side for one worker: asks and waits for the answer, at most `timeoutMs`. */
export class WorkerAsker {
  readonly #channel: IpcChannel
  readonly #pending = new Map<number, (a: Answer | undefined) => void>()
  readonly #stop: () => void
  #nextId = 1

  constructor (channel: IpcChannel) {
    this.#channel = channel
    this.#stop = channel.onMessage((m) => {
      if (!isAnswer(m)) return
      this.#pending.get(m.id)?.(m)
    })
  }

  /** The worker's answer; rejects when it does not answer within `timeoutMs` or answered with an error. */
  ask (kind: AskKind, timeoutMs: number): Promise<unknown> {
    const id = this.#nextId++
    return new Promise<unknown>((resolve, reject) => {
      const done = (a: Answer | undefined): void => {
        clearTimeout(timer)
        this.#pending.delete(id)
        if (a === undefined) reject(new Error(`worker did not answer ${kind} within ${timeoutMs} ms`))
        else if (a.error !== undefined) reject(new Error(a.error))
        else resolve(a.value)
      }
      const timer = setTimeout(() => done(undefined), timeoutMs)
      this.#pending.set(id, done)
      try {
        this.#channel.send({ t: ASK_TAG, id, ask: kind }, (err) => { if (this.#pending.has(id)) done({ t: ASK_TAG, id, error: err.message }) })
      } catch (err) {
        done({ t: ASK_TAG, id, error: (err as Error).message })
      }
    })
  }

  /** Stops listening; what is pending fails. */
  close (): void {
    this.#stop()
    for (const done of [...this.#pending.values()]) done(undefined)
  }
}
