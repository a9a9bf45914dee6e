import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignNamespaces, deriveNamespaceName, emailHash, isDns1123Label, isReservedNamespace } from '../../../src/classroom/names.js';

describe('deriveNamespaceName', () => {
  it('lower-cases and turns . and _ into -', () => {
    assert.deepEqual(deriveNamespaceName('a.b@x'), { name: 'a-b', hashed: false });
    assert.deepEqual(deriveNamespaceName('A_B@y'), { name: 'a-b', hashed: false });
    assert.equal(deriveNamespaceName('John.Smith+lab1@uni.edu').name, 'john-smith-lab1');
  });

  it('collapses separators and trims them at both ends', () => {
    assert.equal(deriveNamespaceName('..a__b--c._@x').name, 'a-b-c');
    assert.equal(deriveNamespaceName('007@x').name, '007');
  });

  it('uses only the part before the last @', () => {
    assert.equal(deriveNamespaceName('"odd@local"@x.org').name, 'odd-local');
  });

  it('transliterates accented Latin letters and ligatures', () => {
    assert.deepEqual(deriveNamespaceName('José.García@uni.es'), { name: 'jose-garcia', hashed: false });
    assert.equal(deriveNamespaceName('straße@x').name, 'strasse');
    assert.equal(deriveNamespaceName('Łukasz.Ørsted@x').name, 'lukasz-orsted');
    assert.equal(deriveNamespaceName('ｆｕｌｌ@x').name, 'full'); // full-width letters fold under NFKD
  });

  it('hashes what cannot be transliterated, so two such students never share a name', () => {
    const a = deriveNamespaceName('李雷@example.cn');
    const b = deriveNamespaceName('韩梅梅@example.cn');
    assert.equal(a.name, `user-${emailHash('李雷@example.cn')}`);
    assert.equal(a.hashed, true);
    assert.notEqual(a.name, b.name);
    assert.ok(isDns1123Label(a.name));
    // Partly transliterable: keep the readable part, add the hash.
    const mixed = deriveNamespaceName('li雷@x');
    assert.equal(mixed.name, `li-${emailHash('li雷@x')}`);
  });

  it('cuts long local parts to 63 characters without a trailing dash', () => {
    const long = `${'a'.repeat(62)}.b@x`;
    const name = deriveNamespaceName(long).name;
    assert.equal(name, 'a'.repeat(62));
    const dashAtCut = `${'a'.repeat(62)}-${'b'.repeat(10)}@x`;
    assert.equal(deriveNamespaceName(dashAtCut).name, 'a'.repeat(62));
    for (const email of [long, dashAtCut, `${'é'.repeat(100)}@x`, `${'李'.repeat(100)}@x`]) {
      const derived = deriveNamespaceName(email, 'student-').name;
      assert.ok(isDns1123Label(derived), derived);
      assert.ok(derived.length <= 63);
    }
  });

  it('applies the prefix inside the 63-character limit', () => {
    assert.equal(deriveNamespaceName('Alice@x', 'cs101-').name, 'cs101-alice');
    assert.equal(deriveNamespaceName(`${'a'.repeat(80)}@x`, 'cs101-').name.length, 63);
  });

  it('never hands out a cluster namespace', () => {
    for (const email of ['default@x', 'kube-system@x', 'Kube.Public@x', 'kubegate@x', 'kube-anything@x']) {
      const derived = deriveNamespaceName(email);
      assert.equal(derived.hashed, true, email);
      assert.equal(isReservedNamespace(derived.name), false, derived.name);
      assert.match(derived.name, /^user-.*-[0-9a-f]{6}$/);
    }
  });

  it('falls back to a hashed name for an empty local part', () => {
    assert.equal(deriveNamespaceName('..@x').name, `user-${emailHash('..@x')}`);
  });
});

describe('assignNamespaces', () => {
  it('gives every clashing student a hash suffix, independently of roster order', () => {
    const rows = [{ email: 'a.b@x', row: 2 }, { email: 'A_B@y', row: 3 }, { email: 'carol@x', row: 4 }];
    const first = assignNamespaces(rows);
    const reversed = assignNamespaces([...rows].reverse());
    assert.deepEqual(first.namespaces, [`a-b-${emailHash('a.b@x')}`, `a-b-${emailHash('A_B@y')}`, 'carol']);
    assert.deepEqual([...reversed.namespaces].reverse(), first.namespaces);
    assert.equal(first.collisions.length, 1);
    assert.equal(first.collisions[0]!.candidate, 'a-b');
    assert.deepEqual(first.collisions[0]!.members.map((m) => m.row).sort(), [2, 3]);
    assert.deepEqual(first.problems, []);
  });

  it('lets a pinned namespace win over a derived one', () => {
    const result = assignNamespaces([{ email: 'alice@x', row: 2 }, { email: 'bob@x', namespace: 'alice', row: 3 }]);
    assert.deepEqual(result.namespaces, [`alice-${emailHash('alice@x')}`, 'alice']);
    assert.equal(result.collisions.length, 1);
  });

  it('reports bad, reserved and duplicated pinned namespaces with their rows', () => {
    const result = assignNamespaces([
      { email: 'a@x', namespace: 'Bad_Name', row: 2 },
      { email: 'b@x', namespace: 'kube-system', row: 3 },
      { email: 'c@x', namespace: 'lab', row: 4 },
      { email: 'd@x', namespace: 'lab', row: 5 },
    ]);
    assert.deepEqual(result.problems.map((p) => p.row), [2, 3, 4, 5]);
    assert.match(result.problems[0]!.message, /not a valid DNS-1123 label/);
    assert.match(result.problems[1]!.message, /reserved/);
    assert.match(result.problems[2]!.message, /pinned by several rows \(4, 5\)/);
  });

  it('keeps names distinct when long local parts share their first 63 characters', () => {
    const stem = 'x'.repeat(70);
    const result = assignNamespaces([{ email: `${stem}1@x`, row: 1 }, { email: `${stem}2@x`, row: 2 }]);
    assert.notEqual(result.namespaces[0], result.namespaces[1]);
    for (const name of result.namespaces) assert.ok(isDns1123Label(name), name);
  });

  it('avoids a hashed name that another student already has', () => {
    const clash = `a-b-${emailHash('a.b@x')}`;
    const result = assignNamespaces([{ email: 'a.b@x', row: 1 }, { email: 'a_b@y', row: 2 }, { email: `${clash}@z`, row: 3 }]);
    assert.equal(new Set(result.namespaces).size, 3);
    assert.equal(result.namespaces[2], clash);
    assert.equal(result.namespaces[0], `a-b-${emailHash('a.b@x', 8)}`);
  });
});
