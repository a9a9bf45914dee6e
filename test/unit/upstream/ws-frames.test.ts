import { test } from 'node:test'
import assert from 'node:assert/strict'
import { WsFrameTracker, wsCloseFrame } from '../../../src/upstream/ws-frames.js'

function frame (payloadLength: number, masked: boolean): Buffer {
  const head: number[] = [0x82]
  const m = masked ? 0x80 : 0
  if (payloadLength < 126) head.push(m | payloadLength)
  else if (payloadLength < 65536) head.push(m | 126, payloadLength >> 8, payloadLength & 0xff)
  else {
    head.push(m | 127)
    const b = Buffer.alloc(8)
    b.writeBigUInt64BE(BigInt(payloadLength))
    head.push(...b)
  }
  if (masked) head.push(1, 2, 3, 4)
  return Buffer.concat([Buffer.from(head), Buffer.alloc(payloadLength, 0x61)])
}

test('frame boundaries across arbitrary chunking, all length forms, masked and not', () => {
  const stream = Buffer.concat([frame(0, false), frame(5, true), frame(300, false), frame(70_000, true), frame(125, false)])
  for (const size of [1, 2, 3, 7, 64, 1000, stream.length]) {
    const t = new WsFrameTracker()
    for (let i = 0; i < stream.length; i += size) t.push(stream.subarray(i, i + size))
    assert.equal(t.atBoundary, true, `chunk size ${size}`)
  }
  const t = new WsFrameTracker()
  const f = frame(300, false)
  t.push(f.subarray(0, 3))
  assert.equal(t.atBoundary, false) // mid-header
  t.push(f.subarray(3, 100))
  assert.equal(t.atBoundary, false) // mid-payload
  t.push(f.subarray(100))
  assert.equal(t.atBoundary, true)
})

test('close frames: 1001, unmasked to the client, masked to the server', () => {
  assert.deepEqual([...wsCloseFrame(1001, false)], [0x88, 0x02, 0x03, 0xe9])
  const m = wsCloseFrame(1001, true)
  assert.equal(m[0], 0x88)
  assert.equal(m[1], 0x82)
  const mask = m.subarray(2, 6)
  assert.deepEqual([(m[6] as number) ^ (mask[0] as number), (m[7] as number) ^ (mask[1] as number)], [0x03, 0xe9])
})
