// oidc-provider 9 ships no type declarations; this covers what test/helpers/oidc-provider.ts uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export interface GrantInstance {
    addOIDCScope: (scope: string) => void
    addOIDCClaims: (claims: string[]) => void
    save: () => Promise<string>
  }

  export default class Provider {
    constructor (issuer: string, configuration: Record<string, unknown>)
    callback: () => (req: IncomingMessage, res: ServerResponse) => void
    on: (event: string, listener: (...args: unknown[]) => void) => this
    Grant: new (init: { accountId: string, clientId: string }) => GrantInstance
  }
}
