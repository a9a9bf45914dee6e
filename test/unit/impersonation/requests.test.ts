// Unit tests: reading Impersonate-* lines as the apiserver's buildImpersonationRequests does.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KubegateError } from '../../../src/errors.js'
import { readImpersonationAsk, splitServiceAccountUsername } from '../../../src/impersonation/requests.js'

function invalidMessage (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof KubegateError)
    assert.equal(err.code, 'KG_ERR_IMPERSONATION_INVALID')
    assert.equal(err.statusCode, 500)
    return err.message
  }
  assert.fail('expected an error')
}

describe('readImpersonationAsk', () => {
  it('no identity headers: none', () => {
    assert.deepEqual(readImpersonationAsk(['Accept', 'application/json']), { kind: 'none' })
  })

  it('user, groups, extras and uid in the apiserver\'s order, names case-insensitive', () => {
    const ask = readImpersonationAsk([
      'impersonate-uid', 'u-1',
      'Impersonate-Extra-Scopes', 'view',
      'IMPERSONATE-GROUP', 'dev',
      'Impersonate-User', 'bob@example.com',
      'Impersonate-Group', 'ops',
      'impersonate-extra-scopes', 'edit',
    ])
    assert.deepEqual(ask, {
      kind: 'impersonate',
      groupsSpecified: true,
      requests: [
        { kind: 'User', name: 'bob@example.com' },
        { kind: 'Group', name: 'dev' },
        { kind: 'Group', name: 'ops' },
        { kind: 'UserExtra', key: 'scopes', value: 'view' },
        { kind: 'UserExtra', key: 'scopes', value: 'edit' },
        { kind: 'UID', name: 'u-1' },
      ],
    })
  })

  it('extra keys are lower-cased then percent-decoded (client-go escapes them)', () => {
    const ask = readImpersonationAsk(['Impersonate-User', 'bob', 'Impersonate-Extra-Example.org%2FTeam', 'a', 'Impersonate-Extra-bad%zz', 'b'])
    assert.equal(ask.kind, 'impersonate')
    const keys = ask.kind === 'impersonate' ? ask.requests.filter((r) => r.kind === 'UserExtra').map((r) => r.kind === 'UserExtra' && r.key) : []
    assert.deepEqual(keys, ['example.org/team', 'bad%zz'])
  })

  it('the first Impersonate-User wins; an empty one counts as absent', () => {
    const ask = readImpersonationAsk(['Impersonate-User', 'bob', 'Impersonate-User', 'carol'])
    assert.deepEqual(ask.kind === 'impersonate' && ask.requests, [{ kind: 'User', name: 'bob' }])
    assert.deepEqual(readImpersonationAsk(['Impersonate-User', '']), { kind: 'none' })
  })

  it('a service-account user name becomes a ServiceAccount request', () => {
    const ask = readImpersonationAsk(['Impersonate-User', 'system:serviceaccount:ci:deployer'])
    assert.deepEqual(ask, { kind: 'impersonate', groupsSpecified: false, requests: [{ kind: 'ServiceAccount', namespace: 'ci', name: 'deployer' }] })
  })

  it('UTF-8 values arrive as Latin-1 from Node and are read back as sent', () => {
    const wire = Buffer.from('開発チーム', 'utf8').toString('latin1')
    const ask = readImpersonationAsk(['Impersonate-User', 'bob', 'Impersonate-Group', wire])
    assert.deepEqual(ask.kind === 'impersonate' && ask.requests[1], { kind: 'Group', name: '開発チーム' })
  })

  it('group, uid or extra without a user: the apiserver\'s internal error text', () => {
    assert.equal(invalidMessage(() => readImpersonationAsk(['Impersonate-Group', 'admins'])),
      'Internal error occurred: requested [{Group  admins    }] without impersonating a user')
    assert.equal(invalidMessage(() => readImpersonationAsk(['Impersonate-Uid', '42', 'Impersonate-Extra-scopes', 'x'])),
      'Internal error occurred: requested [{UserExtra  x  authentication.k8s.io/v1  scopes} {UID  42  authentication.k8s.io/v1  }] without impersonating a user')
    assert.equal(invalidMessage(() => readImpersonationAsk(['Impersonate-User', '', 'Impersonate-Group', 'g'])),
      'Internal error occurred: requested [{Group  g    }] without impersonating a user')
  })

  it('an empty extra key is refused', () => {
    assert.match(invalidMessage(() => readImpersonationAsk(['Impersonate-User', 'bob', 'Impersonate-Extra-', 'x'])), /key must not be empty/)
  })

  it('X-Remote-*, underscore spellings and unknown Impersonate-* names are foreign (never interpreted)', () => {
    for (const name of ['X-Remote-User', 'x-remote-group', 'Impersonate_User', 'impersonate-foo', 'Impersonate-Extra_x']) {
      assert.deepEqual(readImpersonationAsk(['Impersonate-User', 'bob', name, 'v']), { kind: 'foreign', name }, name)
    }
  })
})

describe('splitServiceAccountUsername', () => {
  it('accepts system:serviceaccount:<dns label>:<dns subdomain>', () => {
    assert.deepEqual(splitServiceAccountUsername('system:serviceaccount:kube-system:default'), { namespace: 'kube-system', name: 'default' })
    assert.deepEqual(splitServiceAccountUsername('system:serviceaccount:a:b.c-d'), { namespace: 'a', name: 'b.c-d' })
  })
  it('anything else is a plain user name, as in Go', () => {
    for (const u of ['system:serviceaccount:ns', 'system:serviceaccount:ns:a:b', 'system:serviceaccount::x', 'system:serviceaccount:NS:x',
      'system:serviceaccount:ns:', 'system:serviceaccount:a.b:x', 'system:serviceaccounts:ns:x', 'bob']) {
      assert.equal(splitServiceAccountUsername(u), undefined, u)
    }
  })
})
