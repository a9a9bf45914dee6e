// Validation of jwt[].issuer as kube-apiserver's validation.go does it (URLs, audiences, CA, egress selector), plus kubegate's own refusals.
import { X509Certificate } from 'node:crypto'
import { fieldError, type FieldError, type FieldPath } from './field-error.js'
import type { Issuer } from './types.js'

function validateURL (raw: string, path: FieldPath, disallowed: ReadonlySet<string>): FieldError[] {
  const errs: FieldError[] = []
  if (disallowed.has(raw)) {
    errs.push(fieldError('Invalid', path, `URL must not overlap with disallowed issuers: [${[...disallowed].sort().join(' ')}]`, raw))
  }
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    errs.push(fieldError('Invalid', path, 'invalid URL', raw))
    return errs
  }
  if (u.protocol !== 'https:') errs.push(fieldError('Invalid', path, 'URL scheme must be https', raw))
  if (u.username !== '' || u.password !== '') errs.push(fieldError('Invalid', path, 'URL must not contain a username or password', raw))
  if (u.search !== '') errs.push(fieldError('Invalid', path, 'URL must not contain a query', raw))
  if (u.hash !== '') errs.push(fieldError('Invalid', path, 'URL must not contain a fragment', raw))
  return errs
}

function validateIssuerURL (url: string, path: FieldPath, disallowed: ReadonlySet<string>): FieldError[] {
  if (url === '') return [fieldError('Required', path, '')]
  return validateURL(url, path, disallowed)
}

function validateDiscoveryURL (url: string, discoveryURL: string, path: FieldPath): FieldError[] {
  if (discoveryURL === '') return []
  const errs: FieldError[] = []
  if (url !== '' && url.replace(/\/+$/, '') === discoveryURL.replace(/\/+$/, '')) {
    errs.push(fieldError('Invalid', path, 'discoveryURL must be different from URL', discoveryURL))
  }
  // Not an issuer: the disallowed issuers do not apply to it.
  return [...errs, ...validateURL(discoveryURL, path, new Set())]
}

function validateAudiences (audiences: readonly string[], policy: string, path: FieldPath, policyPath: FieldPath): FieldError[] {
  if (audiences.length === 0) return [fieldError('Required', path, `at least one ${path.toString()} is required`)]
  const errs: FieldError[] = []
  const seen = new Set<string>()
  audiences.forEach((a, i) => {
    if (a === '') errs.push(fieldError('Required', path.index(i), ''))
    if (seen.has(a)) errs.push(fieldError('Duplicate', path.index(i), '', a))
    seen.add(a)
  })
  if (audiences.length > 1 && policy !== 'MatchAny') {
    errs.push(fieldError('Invalid', policyPath, 'audienceMatchPolicy must be MatchAny for multiple audiences', policy))
  }
  if (audiences.length === 1 && policy !== '' && policy !== 'MatchAny') {
    errs.push(fieldError('Invalid', policyPath, 'audienceMatchPolicy must be empty or MatchAny for single audience', policy))
  }
  return errs
}

/** The PEM certificates of a bundle; throws when there is none (client-go cert.NewPoolFromBytes). */
export function parseCertificateBundle (pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  const certs = blocks.map((b) => new X509Certificate(b))
  if (certs.length === 0) throw new Error('data does not contain any valid RSA or ECDSA certificates')
  return certs
}

function validateCertificateAuthority (ca: string, path: FieldPath): FieldError[] {
  if (ca === '') return []
  try {
    parseCertificateBundle(ca)
    return []
  } catch (err) {
    return [fieldError('Invalid', path, err instanceof Error ? err.message : String(err), '<omitted>')]
  }
}

function validateEgressSelector (type: string, path: FieldPath): FieldError[] {
  if (type === '') return []
  const errs = [fieldError('Invalid', path, 'kubegate has no egress selector: remove egressSelectorType (kubegate reaches the issuer directly)', type)]
  if (type !== 'controlplane' && type !== 'cluster') errs.push(fieldError('Invalid', path, 'egress selector must be either controlplane or cluster', type))
  return errs
}

export function validateIssuer (issuer: Issuer, path: FieldPath, disallowed: ReadonlySet<string>): FieldError[] {
  return [
    ...validateIssuerURL(issuer.url, path.child('url'), disallowed),
    ...validateDiscoveryURL(issuer.url, issuer.discoveryURL, path.child('discoveryURL')),
    ...validateAudiences(issuer.audiences, issuer.audienceMatchPolicy, path.child('audiences'), path.child('audienceMatchPolicy')),
    ...validateCertificateAuthority(issuer.certificateAuthority, path.child('certificateAuthority')),
    ...validateEgressSelector(issuer.egressSelectorType, path.child('egressSelectorType')),
  ]
}
