import { isLongRunning, requestInfo } from '../../src/k8s/request-info.js'
import type { MicroCase } from './harness.js'

export function cases (): MicroCase[] {
  const url = '/api/v1/namespaces/user01/pods?limit=500'
  return [
    { name: 'requestInfo (access log fields)', fn: () => requestInfo('GET', url) },
    { name: 'isLongRunning', fn: () => isLongRunning(url) },
  ]
}
