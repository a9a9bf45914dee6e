// Impersonate-* lines that say exactly what a client asked for, rebuilt by kubegate (for a passed-through token, whose impersonation the apiserver itself decides).
import { assertImpersonationBlock, escapeExtraKey, toWireValue } from './headers.js'
import type { ImpersonationRequest } from './requests.js'

/**
 * One line per requested value, in the apiserver's reading order, names and extra keys written as
 * client-go writes them: the apiserver reads back the same requests the client sent, never a second
 * line or a spelling kubegate did not check. Throws KG_ERR_INTERNAL for a value no header can carry.
 */
export function requestedImpersonationHeaders (requests: readonly ImpersonationRequest[]): readonly string[] {
  const out: string[] = []
  for (const r of requests) {
    switch (r.kind) {
      case 'User': out.push('Impersonate-User', toWireValue(r.name)); break
      case 'ServiceAccount': out.push('Impersonate-User', `system:serviceaccount:${r.namespace}:${r.name}`); break
      case 'Group': out.push('Impersonate-Group', toWireValue(r.name)); break
      case 'UserExtra': out.push('Impersonate-Extra-' + escapeExtraKey(r.key), toWireValue(r.value)); break
      case 'UID': out.push('Impersonate-Uid', toWireValue(r.name)); break
    }
  }
  assertImpersonationBlock(out)
  return Object.freeze(out)
}
