/** The configuration tree of a kubegate under benchmark: TLS listener, the bench issuer, the bench upstream, access log at info. */

export interface BenchKubegate {
  readonly port: number
  readonly cert: { readonly certFile: string, readonly keyFile: string }
  readonly issuerUrl: string
  readonly caFile: string
  readonly upstreamUrl: string
  /** The service-account token file kubegate forwards with. */
  readonly saFile: string
}

export function kubegateTree (o: BenchKubegate): Record<string, unknown> {
  return {
    listen: `127.0.0.1:${o.port}`,
    tls: { certFile: o.cert.certFile, privateKeyFile: o.cert.keyFile },
    oidc: { issuerUrl: o.issuerUrl, clientId: 'kubegate', caFile: o.caFile, usernameClaim: 'email', groupsClaim: 'groups' },
    upstream: { server: o.upstreamUrl, caFile: o.caFile, tokenFile: o.saFile },
    // Metrics on a free port: the default 127.0.0.1:9090 may be taken by another process on the machine.
    metrics: { listen: '127.0.0.1:0' },
    log: { level: 'info' },
  }
}
