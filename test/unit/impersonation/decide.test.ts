// Unit tests: the checks, the resulting identity and the Forbidden answer of nested impersonation.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Identity } from '../../../src/auth/identity.js'
import { KubegateError } from '../../../src/errors.js'
import { attributesFor, decideImpersonation, impersonatedIdentity, subjectOf, type Authorize } from '../../../src/impersonation/decide.js'
import { readImpersonationAsk, type ImpersonationRequest } from '../../../src/impersonation/requests.js'
import type { ResourceAttributes } from '../../../src/k8s/forbidden.js'

const alice: Identity = { user: 'alice@example.com', groups: ['instructors'], uid: 'a-1', extra: { team: ['x'] }, sub: 'sub-a', exp: 2_000_000_000, iat: 1_900_000_000 }

function requests (raw: string[]): { requests: readonly ImpersonationRequest[], groupsSpecified: boolean } {
  const ask = readImpersonationAsk(raw)
  assert.equal(ask.kind, 'impersonate')
  return ask as { requests: readonly ImpersonationRequest[], groupsSpecified: boolean }
}

describe('attributesFor', () => {
  it('users, groups, serviceaccounts in the core group; uids and userextras/<key> in authentication.k8s.io v1', () => {
    const r = requests(['Impersonate-User', 'system:serviceaccount:ci:bot', 'Impersonate-Group', 'g', 'Impersonate-Extra-scopes', 'v', 'Impersonate-Uid', '7'])
    assert.deepEqual(r.requests.map(attributesFor), [
      { verb: 'impersonate', group: '', version: '', resource: 'serviceaccounts', subresource: '', namespace: 'ci', name: 'bot' },
      { verb: 'impersonate', group: '', version: '', resource: 'groups', subresource: '', namespace: '', name: 'g' },
      { verb: 'impersonate', group: 'authentication.k8s.io', version: 'v1', resource: 'userextras', subresource: 'scopes', namespace: '', name: 'v' },
      { verb: 'impersonate', group: 'authentication.k8s.io', version: 'v1', resource: 'uids', subresource: '', namespace: '', name: '7' },
    ])
  })
})

describe('impersonatedIdentity', () => {
  it('a user alone gets system:authenticated', () => {
    const r = requests(['Impersonate-User', 'bob'])
    const id = impersonatedIdentity(alice, r.requests, r.groupsSpecified)
    assert.deepEqual([id.user, id.groups, id.uid, id.extra], ['bob', ['system:authenticated'], undefined, undefined])
    assert.deepEqual([id.sub, id.exp, id.iat], [alice.sub, alice.exp, alice.iat])
  })
  it('a service account gets its groups unless groups are given', () => {
    let r = requests(['Impersonate-User', 'system:serviceaccount:ci:bot'])
    assert.deepEqual(impersonatedIdentity(alice, r.requests, r.groupsSpecified).groups,
      ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'])
    r = requests(['Impersonate-User', 'system:serviceaccount:ci:bot', 'Impersonate-Group', 'g'])
    assert.deepEqual(impersonatedIdentity(alice, r.requests, r.groupsSpecified).groups, ['g', 'system:authenticated'])
  })
  it('system:authenticated and system:unauthenticated are not added twice; anonymous gets system:unauthenticated', () => {
    let r = requests(['Impersonate-User', 'bob', 'Impersonate-Group', 'system:unauthenticated'])
    assert.deepEqual(impersonatedIdentity(alice, r.requests, r.groupsSpecified).groups, ['system:unauthenticated'])
    r = requests(['Impersonate-User', 'bob', 'Impersonate-Group', 'system:authenticated', 'Impersonate-Group', 'g'])
    assert.deepEqual(impersonatedIdentity(alice, r.requests, r.groupsSpecified).groups, ['system:authenticated', 'g'])
    r = requests(['Impersonate-User', 'system:anonymous'])
    assert.deepEqual(impersonatedIdentity(alice, r.requests, r.groupsSpecified).groups, ['system:unauthenticated'])
  })
  it('uid and extras as asked, nothing of the requester\'s', () => {
    const r = requests(['Impersonate-User', 'bob', 'Impersonate-Uid', '9', 'Impersonate-Extra-scopes', 'a', 'Impersonate-Extra-scopes', 'b'])
    const id = impersonatedIdentity(alice, r.requests, r.groupsSpecified)
    assert.equal(id.uid, '9')
    assert.deepEqual(id.extra, { scopes: ['a', 'b'] })
  })
})

describe('subjectOf', () => {
  it('the verified identity plus system:authenticated, as the apiserver sees it', () => {
    assert.deepEqual(subjectOf(alice), { user: 'alice@example.com', groups: ['instructors', 'system:authenticated'], uid: 'a-1', extra: { team: ['x'] } })
  })
})

describe('decideImpersonation', () => {
  it('asks about every value with the verified subject, and resolves the new identity when all are allowed', async () => {
    const asked: Array<[string, string]> = []
    const authorize: Authorize = async (s, a) => {
      asked.push([s.user, `${a.resource}/${a.name}`])
      return { allowed: true, reason: '' }
    }
    const r = requests(['Impersonate-User', 'bob', 'Impersonate-Group', 'dev'])
    const id = await decideImpersonation(alice, r.requests, r.groupsSpecified, authorize)
    assert.deepEqual(asked, [['alice@example.com', 'users/bob'], ['alice@example.com', 'groups/dev']])
    assert.deepEqual(id.groups, ['dev', 'system:authenticated'])
  })

  it('the first denied value in order gives the apiserver\'s Forbidden, with its details', async () => {
    const authorize: Authorize = async (_s, a: ResourceAttributes) => ({ allowed: a.resource === 'users', reason: '' })
    const r = requests(['Impersonate-User', 'bob@example.com', 'Impersonate-Uid', '9', 'Impersonate-Group', 'ops'])
    await assert.rejects(decideImpersonation(alice, r.requests, r.groupsSpecified, authorize), (err: unknown) => {
      assert.ok(err instanceof KubegateError)
      assert.equal(err.statusCode, 403)
      assert.equal(err.message, 'groups "ops" is forbidden: User "alice@example.com" cannot impersonate resource "groups" in API group "" at the cluster scope')
      assert.deepEqual(err.details, { name: 'ops', group: '', kind: 'groups' })
      return true
    })
  })

  it('messages for service accounts, extras and a reason, word for word', async () => {
    const deny = (reason: string): Authorize => async () => ({ allowed: false, reason })
    const cases: Array<[string[], string, string]> = [
      [['Impersonate-User', 'bob@example.com'], '', 'users "bob@example.com" is forbidden: User "alice@example.com" cannot impersonate resource "users" in API group "" at the cluster scope'],
      [['Impersonate-User', 'system:serviceaccount:ci:bot'], '', 'serviceaccounts "bot" is forbidden: User "alice@example.com" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ci"'],
      [['Impersonate-User', 'bob', 'Impersonate-Extra-scopes', 'view'], 'no', 'users "bob" is forbidden: User "alice@example.com" cannot impersonate resource "users" in API group "" at the cluster scope: no'],
      [['Impersonate-User', '<b>&'], '', 'users "<b>&" is forbidden: User "alice@example.com" cannot impersonate resource "users" in API group "" at the cluster scope'],
    ]
    for (const [raw, reason, message] of cases) {
      const r = requests(raw)
      await assert.rejects(decideImpersonation(alice, r.requests, r.groupsSpecified, deny(reason)), { message })
    }
    const r = requests(['Impersonate-User', 'bob', 'Impersonate-Extra-scopes', 'view'])
    await assert.rejects(decideImpersonation(alice, r.requests, r.groupsSpecified, async (_s, a) => ({ allowed: a.resource === 'users', reason: '' })),
      { message: 'userextras.authentication.k8s.io "view" is forbidden: User "alice@example.com" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope' })
  })

  it('a question that cannot be answered fails the request, even when others were allowed', async () => {
    const down = new KubegateError('KG_ERR_REVIEW_UNAVAILABLE')
    const r = requests(['Impersonate-User', 'bob', 'Impersonate-Group', 'g'])
    await assert.rejects(decideImpersonation(alice, r.requests, r.groupsSpecified, async (_s, a) => {
      if (a.resource === 'groups') throw down
      return { allowed: true, reason: '' }
    }), (err) => err === down)
  })
})
