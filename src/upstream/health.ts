// Periodic apiserver health probe (GET /readyz with kubegate's token) behind the `upstream` readiness check and `kubegate_upstream_up`.
export interface UpstreamHealthOptions {
  /** One cheap request to the apiserver; resolves its HTTP status. */
  readonly probe: () => Promise<number>
  readonly intervalMs: number
  readonly onChange?: (up: boolean, reason: string | undefined) => void
}

export interface UpstreamHealth {
  /** undefined before the first check has finished. */
  readonly up: () => boolean | undefined
  /** Why the last check failed (status or errno; never a header or token). */
  readonly reason: () => string | undefined
  /** Runs a check now (single flight); resolves with the verdict. */
  readonly checkNow: () => Promise<boolean>
  readonly close: () => void
}

/**
 * Periodic apiserver reachability for `/readyz`: probes run on a timer and the verdict is cached, so a
 * burst of probe requests costs nothing upstream. Up means an HTTP answer over verified TLS that is neither
 * 5xx (the apiserver says it cannot serve) nor 401 (kubegate's own token is refused: every request would fail).
 */
export function createUpstreamHealth (options: UpstreamHealthOptions): UpstreamHealth {
  let up: boolean | undefined
  let reason: string | undefined = 'not checked yet'
  let inflight: Promise<boolean> | undefined
  let closed = false

  function set (next: boolean, why: string | undefined): void {
    const changed = next !== up
    up = next
    reason = why
    if (changed) options.onChange?.(next, why)
  }

  function checkNow (): Promise<boolean> {
    if (inflight !== undefined) return inflight
    inflight = options.probe().then((status) => {
      if (status >= 500) set(false, `apiserver answered ${status}`)
      else if (status === 401) set(false, 'apiserver refused kubegate\'s token (401)')
      else set(true, undefined)
      return up as boolean
    }, (err: unknown) => {
      const e = err as { code?: string, message?: string }
      set(false, `apiserver unreachable: ${e.code ?? e.message ?? 'error'}`)
      return false
    }).finally(() => { inflight = undefined })
    return inflight
  }

  const timer = setInterval(() => { if (!closed) void checkNow() }, options.intervalMs)
  timer.unref()
  void checkNow()

  return {
    up: () => up,
    reason: () => reason,
    checkNow,
    close () {
      closed = true
      clearInterval(timer)
    },
  }
}
