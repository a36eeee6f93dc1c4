import HyperDHT from 'hyperdht'
import createTestnet from 'hyperdht/testnet.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { startDaemon, storeArgs } from './swarm.js'

/** A private DHT on loopback for the --dht tests (never the public bootstrap nodes). */

export const DHT_ARGS = (bootstrap: string): string[] => ['--dht', '--bootstrap', bootstrap, '--dht-host', '127.0.0.1']

/** hyperdht's testnet of three nodes on 127.0.0.1; its bootstrap list. */
export async function testnet(t: Cleanup): Promise<string> {
  // hyperdht reads port 0 as its fixed default port (49737): a range of [0, 0] is any free one.
  const net = await createTestnet(3, { host: '127.0.0.1', port: [0, 0] as unknown as number })
  onCleanup(t, () => net.destroy())
  return net.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
}

/** A DHT node of the test's own (a stranger's, a probe) on the testnet `bootstrap`, on 127.0.0.1: never the public one. */
export function testnetNode(t: Cleanup, bootstrap: string): HyperDHT {
  const node = new HyperDHT({ bootstrap: bootstrap.split(','), host: '127.0.0.1', port: [0, 0] as unknown as number })
  onCleanup(t, () => node.destroy({ force: true }))
  return node
}

/** p2p-serve --dht on the store in `dir`; resolves once its topics are announced (its first --json line). */
export async function dhtSeeder(t: Cleanup, dir: string, bootstrap: string, extra: string[] = []) {
  const serve = startDaemon(t, 'p2p-serve', [
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--json',
    ...storeArgs(dir),
    ...DHT_ARGS(bootstrap),
    ...extra,
  ])
  const line = (await serve.firstLine) as { dhtTopics: number; peerId: string; links: Array<{ link: string }> }
  return { serve, line }
}
