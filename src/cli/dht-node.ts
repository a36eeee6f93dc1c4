import chalk from 'chalk'
import { createBootstrapNode } from '../index.js'
import { defineCommand, parseInteger, pickSettings } from './common.js'
import { untilAborted } from './stopping.js'

/**
 * `p2p dht-node`: a node of a private HyperDHT deployment (docs/protocol.md
 * §6.1). Start one or more where every site can reach them (a public
 * address), then give every seeder and downloader `--bootstrap HOST:PORT`.
 */
export const dhtNodeCommand = defineCommand({
  name: 'dht-node',
  summary: 'run a DHT bootstrap node for a private deployment (seeders and downloaders name it with --bootstrap)',
  settings: {
    // The shared setting, but a node given none bootstraps from nobody (a first node), never the public ones.
    bootstrap: {
      ...pickSettings('bootstrap').bootstrap,
      description: 'the other nodes of this private deployment to join; repeatable',
      defaultLabel: 'none (a first node)',
    },
    // Keys of their own: the top level's "port" and "host", and P2P_PORT and P2P_HOST, are a server's (a UX audit:
    // a config file for p2p-serve moved this node off 49737).
    nodeHost: {
      flag: 'host',
      env: 'P2P_DHT_NODE_HOST',
      fileKey: 'dhtNodeHost',
      valueName: '<ipv4>',
      description: "this node's IPv4 address as the others reach it (also the address it binds)",
      defaultValue: '127.0.0.1',
      parse: (raw: unknown) => String(raw).trim(),
    },
    nodePort: {
      flag: 'port',
      env: 'P2P_DHT_NODE_PORT',
      fileKey: 'dhtNodePort',
      valueName: '<port>',
      description: 'the UDP port to bind (0 = any free port, printed)',
      defaultValue: 49737,
      parse: parseInteger(0, 65535),
    },
  },
  examples: [
    'p2p dht-node --host 203.0.113.7            # then: p2p-serve --dht --bootstrap 203.0.113.7:49737',
    'p2p dht-node --host 203.0.113.8 --bootstrap 203.0.113.7:49737   # a second node joining the first',
    'p2p dht-node --host 127.0.0.1 --port 0 --json | head -1         # tests: any free port',
  ],
  run: async ({ settings, json, log, signal, out }) => {
    const node = await createBootstrapNode({
      host: settings.nodeHost,
      port: settings.nodePort,
      bootstrap: settings.bootstrap,
    })
    const { port } = node.address()
    const address = `${settings.nodeHost}:${port}`
    log.info({ address, bootstrap: settings.bootstrap }, 'DHT node listening')
    if (json)
      process.stdout.write(`${JSON.stringify({ ok: true, host: settings.nodeHost, port, bootstrap: address })}\n`)
    out(`${chalk.green('DHT node')} on ${address} (UDP; Ctrl-C to stop)`)
    out(chalk.dim(`  peers use it with --dht --bootstrap ${address}`))
    await untilAborted(signal)
    await node.destroy({ force: true })
    log.info('DHT node stopped')
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, stopped: true })}\n`)
    return 0
  },
})
