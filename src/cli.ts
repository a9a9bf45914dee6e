#!/usr/bin/env node
// The kubegate command: `serve` (the proxy), `revoke`/`revocations`, `kubeconfig`, `classroom`; the only place that exits the process.
import cluster from 'node:cluster'
import { ConfigError, loadConfig, type Config } from './config/load.js'
import { flattenSchema } from './config/schema.js'
import { configFileFrom, createReloader, reloadableFiles, shutdown } from './lifecycle.js'
import { start, type Kubegate } from './main.js'
import { answerPrimary, startPrimary, workerCount, workerStartOptions } from './server/cluster-mode.js'

const USAGE = `kubegate: an authenticating proxy that runs kubectl requests as the OIDC user, by impersonation.

Usage:
  kubegate [serve] --config kubegate.yaml [--flag=value ...]   run the proxy
  kubegate classroom render --roster roster.yaml              per-student namespaces and RBAC
  kubegate kubeconfig --public-url URL --issuer URL --client-id ID   kubeconfig with kubelogin
  kubegate revoke --user NAME [--server URL]                  revoke a user's tokens (docs/revocation.md)
  kubegate revocations list|delete ...                        see or lift revocations
  kubegate rbac [--namespace NS] [settings as for serve]      the ClusterRole kubegate's ServiceAccount needs
  kubegate flags                                              list every flag with its YAML key
  kubegate help

Every setting is a YAML key, a flag and an environment variable (docs/config.md).`

/** Subcommands registered by feature modules: name -> (argv after the name) => exit code. */
type Command = (argv: string[]) => Promise<number>

async function lazyCommand (name: string): Promise<Command | undefined> {
  switch (name) {
    case 'rbac': {
      const m = await import('./authn/cli.js')
      return (argv) => m.runRbacCommand(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env })
    }
    case 'classroom': {
      const m = await import('./classroom/cli.js')
      return (argv) => m.runClassroomCommand(argv, { stdout: process.stdout, stderr: process.stderr })
    }
    case 'kubeconfig': {
      const m = await import('./web/cli.js')
      return (argv) => m.runKubeconfigCommand(argv, { stdout: process.stdout, stderr: process.stderr })
    }
    case 'revoke':
    case 'revocations': {
      const m = await import('./shared-state/cli.js')
      return (argv) => m.runRevocationCommand(name, argv, { stdout: process.stdout, stderr: process.stderr })
    }
    default:
      return undefined
  }
}

async function serve (argv: string[]): Promise<number> {
  let config
  try {
    config = loadConfig({ argv, env: process.env })
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n')
      return 2
    }
    throw err
  }
  const workers = workerCount(config.server.workers)
  if (workers > 1 && cluster.isPrimary) return supervise(config, workers)
  const kg = await (cluster.isWorker ? startWorker(config) : start(config))
  const env = process.env
  const configFile = configFileFrom(argv, env)
  const reloader = createReloader({
    kg,
    initial: config,
    load: () => loadConfig({ argv, env: process.env }),
    files: (c) => reloadableFiles(c, configFile),
    pollMs: config.reload.pollSeconds * 1000,
    logger: kg.logger,
  })
  process.on('SIGHUP', () => { void reloader.reload('SIGHUP') })
  let stopping: string | undefined
  const stop = (signal: string): void => {
    if (stopping !== undefined) {
      // A worker gets Ctrl+C's SIGINT from the terminal and the primary's SIGTERM: only a repeat hurries it.
      if (cluster.isWorker && signal !== stopping) return
      // A second signal: stop waiting.
      kg.logger.warn({ signal }, 'second signal: exiting now')
      kg.logger.flush(() => process.exit(1))
      return
    }
    stopping = signal
    reloader.close()
    kg.logger.info({ signal }, 'shutting down')
    // SIGINT is a person at a terminal: no endpoint propagation to wait for.
    const delayMs = signal === 'SIGINT' ? 0 : config.shutdown.delaySeconds * 1000
    shutdown(kg, { delayMs, graceMs: config.shutdown.gracePeriodSeconds * 1000 }).then((r) => {
      kg.logger.info({ drained: r.drained, sessionsClosed: r.sessionsClosed }, 'shutdown complete')
      kg.logger.flush(() => process.exit(0))
    }, (err: unknown) => {
      kg.logger.error({ err: (err as Error).message }, 'shutdown failed')
      kg.logger.flush(() => process.exit(1))
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return -1
}

/**
 * A worker of `server.workers` > 1: the IPC store (unless Redis is configured), no metrics listener of its own,
 * its answers to the primary's questions, and a log destination that several processes can share.
 */
async function startWorker (config: Config): Promise<Kubegate> {
  const { createLogger } = await import('./log/logger.js')
  const started = start(config, { ...workerStartOptions(config), logger: createLogger({ level: config.log.level, sharedStdout: true }) })
  answerPrimary(started)
  return await started
}

/**
 * server.workers > 1: this process supervises, holds the workers' store and serves the metrics listener; each
 * worker runs `serve` with the same argv. SIGHUP is forwarded to every worker; SIGTERM/SIGINT stop each
 * gracefully (the workers' own handlers drain) and exit once all have.
 */
async function supervise (config: Config, workers: number): Promise<number> {
  const { createLogger } = await import('./log/logger.js')
  const logger = createLogger({ level: config.log.level, sharedStdout: true })
  const primary = await startPrimary(config, workers, logger)
  process.on('SIGHUP', () => primary.reload())
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down workers')
    void primary.close().then(() => logger.flush(() => process.exit(0)))
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  return -1
}

export async function main (argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (first === 'flags') {
    for (const f of flattenSchema()) process.stdout.write(`--${f.flag}\t${f.path}\t${f.env}\n`)
    return 0
  }
  if (first === undefined || first.startsWith('--')) return serve(argv)
  if (first === 'serve') return serve(rest)
  const cmd = await lazyCommand(first)
  if (cmd === undefined) {
    process.stderr.write(`unknown command ${first}\n\n${USAGE}\n`)
    return 2
  }
  return cmd(rest)
}

main(process.argv.slice(2)).then((code) => {
  // -1: a server is running and owns the process lifetime.
  if (code >= 0) process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`kubegate: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
