// The primary's questions to a worker over IPC: answers by id, errors, no answer in time.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { answerAsks, WorkerAsker } from '../../../src/server/worker-asks.js'
import { ipcPair } from '../../helpers/ipc-pair.js'

test('a worker answers each question; the primary gets the answer to the one it asked', async () => {
  const pair = ipcPair()
  answerAsks(pair.worker, { metrics: async () => [{ name: 'm' }], readiness: () => ({ ready: true }) })
  const asker = new WorkerAsker(pair.primary)
  const [m, r] = await Promise.all([asker.ask('metrics', 5000), asker.ask('readiness', 5000)])
  assert.deepEqual(m, [{ name: 'm' }])
  assert.deepEqual(r, { ready: true })
})

test('a failing answer rejects; no answer in time rejects', async () => {
  const pair = ipcPair()
  answerAsks(pair.worker, { metrics: () => { throw new Error('collect failed') }, readiness: () => new Promise(() => undefined) })
  const asker = new WorkerAsker(pair.primary)
  await assert.rejects(asker.ask('metrics', 5000), /collect failed/)
  await assert.rejects(asker.ask('readiness', 20), /did not answer readiness within 20 ms/)
  asker.close()
})

test('a closed channel fails the question at once', async () => {
  const pair = ipcPair()
  pair.close()
  await assert.rejects(new WorkerAsker(pair.primary).ask('metrics', 5000), /channel closed/)
})
