import type { Socket } from 'node:dgram'
import { createConnection, createServer, type Server } from 'node:net'
import { createInterface } from 'node:readline'
import { discoveryTargets, listInterfaces } from '../../src/core/discovery/interfaces.js'
import {
  bindUdp,
  bindUnicastReceivers,
  closeSockets,
  type Family,
  joinGroups,
  sendDatagram,
} from '../../src/core/discovery/udp-sockets.js'

/**
 * A small agent run inside a test namespace (`node probe.js`): it takes one
 * JSON command a line on stdin and writes one JSON event a line on stdout, so
 * a test can bind sockets, join groups, send datagrams and open TCP
 * connections on any host of a topology and see what arrives where. It uses
 * the discovery socket helpers themselves, so the same exchange tests them.
 *
 *   {"seq":1,"op":"bind","name":"v6","family":6,"port":0,"join":[{"group":"ff12::7032:7032","interface":"eth0"}]}
 *   {"seq":2,"op":"send","name":"v6","to":"ff12::7032:7032%eth0","port":4000,"data":"hello"}
 *   → {"seq":1,"op":"bound","port":4000,…}  {"op":"message","name":"v6","from":"fe80::1:2%eth0","port":…,"data":"hello"}
 */

type Command = { seq: number } & (
  | {
      op: 'bind'
      name: string
      family: Family
      port: number
      address?: string
      reuseAddr?: boolean
      join?: Array<{ group: string; interface: string }>
    }
  | { op: 'bindUnicast'; name: string; port: number; addresses: string[] }
  | { op: 'send'; name: string; to: string; port: number; data: string }
  | { op: 'interfaces' }
  | { op: 'tcpListen'; host: string }
  | { op: 'tcpConnect'; host: string; port: number }
)

const sockets = new Map<string, Socket[]>()
const servers: Server[] = []
const emit = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

function receiver(name: string) {
  return {
    onMessage: (msg: Buffer, from: { address: string; port: number }, socket: Socket) => {
      emit({
        op: 'message',
        name,
        from: from.address,
        port: from.port,
        data: msg.toString('utf8'),
        local: socket.address().address,
      })
    },
    onError: (err: Error) => emit({ op: 'socketError', name, error: err.message }),
  }
}

async function run(c: Command): Promise<Record<string, unknown>> {
  switch (c.op) {
    case 'bind': {
      const socket = await bindUdp({
        family: c.family,
        port: c.port,
        address: c.address,
        reuseAddr: c.reuseAddr ?? true,
        ...receiver(c.name),
      })
      sockets.set(c.name, [...(sockets.get(c.name) ?? []), socket])
      return { op: 'bound', port: socket.address().port, ...joinGroups(socket, c.join ?? []) }
    }
    case 'bindUnicast': {
      const r = await bindUnicastReceivers(c.addresses, c.port, receiver(c.name))
      sockets.set(c.name, [...(sockets.get(c.name) ?? []), ...r.sockets])
      return { op: 'bound', bound: r.sockets.map((s) => s.address().address), failed: r.failed }
    }
    case 'send': {
      const socket = sockets.get(c.name)?.[0]
      if (!socket) throw new Error(`no socket ${c.name}`)
      const err = await sendDatagram(socket, Buffer.from(c.data), c.port, c.to)
      return { op: 'sent', error: err?.message }
    }
    case 'interfaces': {
      const interfaces = listInterfaces()
      return { op: 'interfaces', interfaces, auto: discoveryTargets('auto', interfaces, { ipv4: true, ipv6: true }) }
    }
    case 'tcpListen': {
      const server = createServer((s) => s.end(`from ${s.localAddress} to ${s.remoteAddress}`))
      servers.push(server)
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, c.host, resolve))
      return { op: 'listening', port: (server.address() as { port: number }).port }
    }
    case 'tcpConnect': {
      const socket = createConnection({ host: c.host, port: c.port })
      let data = ''
      socket.setEncoding('utf8').on('data', (d: string) => {
        data += d
      })
      await new Promise<void>((resolve, reject) => socket.once('error', reject).once('end', resolve))
      return { op: 'connected', data }
    }
  }
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const c = JSON.parse(line) as Command
    run(c).then(
      (r) => emit({ seq: c.seq, ...r }),
      (err: Error) => emit({ seq: c.seq, op: 'error', error: err.message }),
    )
  })
  .on('close', () => {
    for (const s of servers) s.close()
    void closeSockets([...sockets.values()].flat())
  })
