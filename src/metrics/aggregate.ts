// One exposition from every worker's metrics (server.workers > 1): prom-client's aggregator, process metrics per worker.
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client'

/** Metrics of the process itself (prom-client's default metrics): kept per worker, with a `worker` label. */
const PER_PROCESS = /^(?:process_|nodejs_)/

/** One process's `registry.getMetricsAsJSON()`, and the label value that names it. */
export interface ProcessMetrics {
  /** The worker's slot (0 to workers - 1, kept by its replacement) or `primary`. */
  readonly worker: string
  readonly metrics: ReadonlyArray<MetricObjectWithValues<MetricValue<string>>>
}

/** A process metric with `worker` added to every series (so no two processes' series merge). */
function perWorker (m: MetricObjectWithValues<MetricValue<string>>, worker: string): MetricObjectWithValues<MetricValue<string>> {
  // 'sum' rather than the metric's own ('omit' would drop process_start_time_seconds): the labels keep them apart.
  return { ...m, aggregator: 'sum', values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) }
}

/**
 * Merges the processes' metrics with prom-client's `AggregatorRegistry.aggregate`: each metric by its own
 * `aggregator` (counters and histograms, kubegate's fast ones included, are summed; gauges say how they merge:
 * src/metrics/scrape-collectors.ts). process_* and nodejs_* stay per process, labelled `worker`: a sum of heap
 * sizes or event-loop lags would describe no process.
 */
export function mergeProcessMetrics (all: readonly ProcessMetrics[]): Registry {
  return AggregatorRegistry.aggregate(all.map(({ worker, metrics }) =>
    metrics.map((m) => (PER_PROCESS.test(m.name) ? perWorker(m, worker) : m))))
}
