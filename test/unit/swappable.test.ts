// The swappable holder: readers see the component in place now; a swap hands back the one it replaced.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Swappable, type Current } from '../../src/swappable.js'

describe('Swappable', () => {
  it('serves the initial component, then each swapped-in one, and returns the replaced one', () => {
    const a = { name: 'a' }
    const b = { name: 'b' }
    const holder = new Swappable(a)
    const reader: Current<{ name: string }> = holder
    assert.equal(reader.current, a)
    assert.equal(holder.swap(b), a)
    assert.equal(reader.current, b)
    assert.equal(holder.swap(a), b)
    assert.equal(reader.current, a)
  })
})
