import { createClaimMapper } from '../../src/claims/map.js'
import type { MicroCase } from './harness.js'

export function cases (payload: Record<string, unknown>): MicroCase[] {
  const map = createClaimMapper({
    issuerUrl: String(payload.iss), usernameClaim: 'email', groupsClaim: 'groups', requiredClaims: {}, allowReservedIdentities: false, maxGroups: 256,
  })
  return [{ name: 'claim mapping (email + 2 groups)', fn: () => map(payload, payload.exp as number) }]
}
