/** A minimal micro-benchmark loop: calibrate to ~target ms, then take the best of a few timed batches. */
export interface MicroCase {
  name: string
  /** Synchronous body, or an async one for operations that complete later (async verify). */
  fn: () => unknown
  async?: boolean
  /** Concurrency for async cases (operations in flight at once). */
  concurrency?: number
}

export interface MicroResult { name: string, nsPerOp: number, ops: number }

let sink: unknown

export async function measure (c: MicroCase, targetMs: number): Promise<MicroResult> {
  if (c.async === true) {
    const conc = c.concurrency ?? 1
    const batch = async (n: number): Promise<number> => {
      const t = performance.now()
      for (let i = 0; i < n; i += conc) await Promise.all(Array.from({ length: Math.min(conc, n - i) }, () => c.fn() as Promise<unknown>))
      return performance.now() - t
    }
    let n = conc * 4
    while (await batch(n) < targetMs / 4 && n < 1e6) n *= 2
    let best = Infinity
    for (let r = 0; r < 3; r++) best = Math.min(best, await batch(n))
    return { name: c.name, nsPerOp: Math.round(best * 1e6 / n), ops: n }
  }
  const batch = (n: number): number => {
    const t = performance.now()
    for (let i = 0; i < n; i++) sink = c.fn()
    return performance.now() - t
  }
  let n = 16
  while (batch(n) < targetMs / 4 && n < 1e8) n *= 2
  let best = Infinity
  for (let r = 0; r < 3; r++) best = Math.min(best, batch(n))
  return { name: c.name, nsPerOp: Math.round(best * 1e6 / n * 10) / 10, ops: n }
}

export function consumed (): unknown { return sink }
