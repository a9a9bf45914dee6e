// server.workers: 0 resolves to the CPUs available (bounded by the cgroup limit); explicit counts are kept.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cgroupCpuLimit, workerCount } from '../../../src/server/cluster-mode.js'

function files (map: Record<string, string>): (p: string) => string {
  return (p) => {
    const v = map[p]
    if (v === undefined) throw new Error(`ENOENT ${p}`)
    return v
  }
}

test('an explicit count is kept; 0 is the available CPUs, bounded by the cgroup limit and 64', () => {
  assert.equal(workerCount(1, () => 8, () => undefined), 1)
  assert.equal(workerCount(3, () => 1, () => 1), 3)
  assert.equal(workerCount(0, () => 8, () => undefined), 8)
  assert.equal(workerCount(0, () => 8, () => 2), 2)
  assert.equal(workerCount(0, () => 2, () => 16), 2)
  assert.equal(workerCount(0, () => 256, () => undefined), 64)
  assert.equal(workerCount(0, () => 0, () => undefined), 1)
})

test('the cgroup CPU limit: v2 cpu.max, else v1 CFS quota, rounded up; none when unlimited or unreadable', () => {
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined)
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' })), 2)
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' })), 2)
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '10000 100000\n' })), 1)
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' })), 3)
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' })), undefined)
  assert.equal(cgroupCpuLimit(files({})), undefined)
})
