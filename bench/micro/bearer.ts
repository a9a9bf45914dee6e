import { parseBearer } from '../../src/auth/bearer.js'
import type { MicroCase } from './harness.js'

export function cases (token: string): MicroCase[] {
  const header = 'Bearer ' + token
  return [{ name: 'bearer parse (parseBearer, 900-byte token)', fn: () => parseBearer(header) }]
}
