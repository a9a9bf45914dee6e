// Request-line checks: HTTP version, origin-form target, query credentials, and kubegate's own routes.
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, it } from 'node:test'
import { checkHttpVersion, checkOriginForm, checkQueryCredentials, LocalRoutes } from '../../../src/server/request-target.js'

const version = (major: number, minor: number): IncomingMessage =>
  ({ httpVersionMajor: major, httpVersionMinor: minor, httpVersion: `${major}.${minor}` }) as IncomingMessage

describe('request target', () => {
  it('accepts HTTP/1.0 and 1.1 requests, only 1.1 upgrades', () => {
    assert.equal(checkHttpVersion(version(1, 0), false), undefined)
    assert.equal(checkHttpVersion(version(1, 1), false), undefined)
    assert.equal(checkHttpVersion(version(1, 1), true), undefined)
    assert.equal(checkHttpVersion(version(1, 0), true)?.failure, 'bad_version')
    assert.equal(checkHttpVersion(version(1, 2), false)?.failure, 'bad_version')
    assert.equal(checkHttpVersion(version(2, 0), false)?.failure, 'bad_version')
  })

  it('accepts origin-form only', () => {
    assert.equal(checkOriginForm('/api/v1/pods'), undefined)
    for (const t of ['//evil.example/api', 'http://evil.example/api', '*', '']) assert.equal(checkOriginForm(t)?.failure, 'bad_target', t)
  })

  it('refuses credentials in the query', () => {
    const url = '/api/v1/pods?access_token=abc'
    assert.equal(checkQueryCredentials(url, url.indexOf('?'))?.failure, 'credentials_in_query')
    assert.equal(checkQueryCredentials('/api/v1/pods?watch=1', 12), undefined)
    assert.equal(checkQueryCredentials('/api/v1/pods', -1), undefined)
  })

  it('finds local routes by exact path (query ignored), then by owned prefix', () => {
    const probe = (_req: IncomingMessage, _res: ServerResponse): void => {}
    const admin = (_req: IncomingMessage, _res: ServerResponse): void => {}
    const routes = new LocalRoutes(new Map([['/readyz', probe]]), [['/kubegate/', admin]])
    const find = (url: string): unknown => routes.find(url, url.indexOf('?'))
    assert.equal(find('/readyz'), probe)
    assert.equal(find('/readyz?verbose'), probe)
    assert.equal(find('/readyz/'), undefined, 'exact paths are matched byte-for-byte')
    assert.equal(find('/kubegate/v1/revocations'), admin)
    assert.equal(find('/kubegate'), undefined)
    assert.equal(find('/api/v1/pods'), undefined)
  })
})
