import { buildImpersonationHeaders } from '../../src/impersonation/headers.js'
import { scanClientHeaders } from '../../src/impersonation/client-headers.js'
import type { MicroCase } from './harness.js'

/** kubectl's header block for `kubectl get pods` (client-go 1.30). */
export function kubectlHeaders (token: string): string[] {
  return [
    'Host', '127.0.0.1:8443',
    'User-Agent', 'kubectl/v1.30.4 (linux/amd64) kubernetes/8a6b2a3',
    'Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
    'Authorization', 'Bearer ' + token,
    'Kubectl-Command', 'kubectl get',
    'Kubectl-Session', '2b1f9c0e-6a43-4c36-9e52-2f3f0d2d8a11',
    'Accept-Encoding', 'gzip',
  ]
}

export function cases (token: string): MicroCase[] {
  const raw = kubectlHeaders(token)
  const identity = { user: 'user01@example.com', groups: ['students', 'class-2025'], uid: undefined, sub: 'x', exp: 0, iat: undefined }
  return [
    { name: 'header scan (scanClientHeaders, kubectl block)', fn: () => scanClientHeaders(raw) },
    { name: 'impersonation header build (2 groups)', fn: () => buildImpersonationHeaders(identity) },
  ]
}
