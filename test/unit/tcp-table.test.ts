import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  addressBytes,
  type TableReading,
  tableAddressText,
  tableEnds,
  unsentIn,
} from '../../src/core/transfer/tcp-table.js'
import { UnsentBytes } from '../../src/core/transfer/unsent-bytes.js'
import { onCleanup } from '../helpers/cleanup.js'
import { until } from '../helpers/raw-client.js'
import { TABLE_HEADER as HEADER, tableLine as line } from '../helpers/tcp-table-lines.js'

/**
 * The kernel's table of TCP sockets (tcp-table.ts), as Linux prints it
 * (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c): each 32-bit word of an
 * address %08X in the machine's own byte order, a port %04X, the state %02X,
 * then tx_queue:rx_queue %08X:%08X. Lines are made here from bytes, for
 * either byte order, and must be found by the addresses Node names.
 */

/** An address's bytes as the kernel prints them (4 or 16 bytes: 8 or 32 hex digits). */
function printed(bytes: Buffer, littleEndian: boolean): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 4) {
    const word = littleEndian ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i)
    out += word.toString(16).toUpperCase().padStart(8, '0')
  }
  return out
}

/** IPv6 text for 16 bytes: every group, or the longest run of zero groups as `::` (as Node names them), or mixed. */
function v6Text(bytes: Buffer, style: 'full' | 'compressed' | 'mapped'): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16))
  if (style === 'mapped') return `${groups.slice(0, 6).join(':')}:${[...bytes.subarray(12)].join('.')}`
  if (style === 'full') return groups.join(':')
  let best = [-1, 0]
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > best[1]!) best = [i, j - i]
    i = j === i ? i + 1 : j
  }
  if (best[1]! < 2) return groups.join(':')
  return `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0]! + best[1]!).join(':')}`
}

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'))
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b))
const port = fc.integer({ min: 1, max: 65535 })

describe('the kernel table of TCP sockets (tcp-table.ts)', () => {
  it('known lines: 127.0.0.1 and ::1 in either byte order, IPv4 in tcp and as IPv4-mapped in tcp6', () => {
    assert.equal(tableAddressText(addressBytes('127.0.0.1')!.subarray(12), true), '0100007F')
    assert.equal(tableAddressText(addressBytes('127.0.0.1')!.subarray(12), false), '7F000001')
    assert.equal(tableAddressText(addressBytes('::1')!, true), '00000000000000000000000001000000')
    assert.equal(tableAddressText(addressBytes('::1')!, false), '00000000000000000000000000000001')
    assert.equal(tableAddressText(addressBytes('::ffff:127.0.0.1')!, true), '0000000000000000FFFF00000100007F')
    assert.deepEqual(addressBytes('127.0.0.1'), addressBytes('::ffff:127.0.0.1'))
    assert.deepEqual(addressBytes('fe80::1%eth0'), addressBytes('fe80::1'))
    for (const bad of ['', 'example.com', '1.2.3', '::g', '1:2:3:4:5:6:7:8:9'])
      assert.equal(addressBytes(bad), undefined)
    const table = `${HEADER}${line(0, '0100007F', 47010, '0102007F', 40000, '01', 4096)}${line(1, '0100007F', 47010, '00000000', 0, '0A', 7)}`
    const ends = tableEnds(
      { localAddress: '127.0.0.1', localPort: 47010, remoteAddress: '127.0.2.1', remotePort: 40000 },
      true,
    )!
    assert.deepEqual(ends, [
      '0000000000000000FFFF00000100007F:B7A2 0000000000000000FFFF00000102007F:9C40',
      '0100007F:B7A2 0102007F:9C40',
    ])
    const found = new Map<string, TableReading>()
    unsentIn([table], [ends], found)
    assert.deepEqual([...found], [[ends[0], { unsent: 4096, inode: '12345' }]])
    const mapped = tableEnds(
      { localAddress: '::ffff:127.0.0.1', localPort: 47010, remoteAddress: '::ffff:127.0.2.1', remotePort: 40000 },
      true,
    )
    assert.deepEqual(mapped, ends, 'a dual-stack socket is keyed as its IPv4 twin')
    for (const missing of [{}, { localAddress: '127.0.0.1', localPort: 1, remotePort: 2 }])
      assert.equal(tableEnds(missing, true), undefined)
  })

  it('property: a connection printed in either byte order, in tcp or tcp6, is found by the addresses Node names, with its tx_queue', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ family: fc.constant(4 as const), local: v4, remote: v4 }),
          fc.record({ family: fc.constant(6 as const), local: v6, remote: v6 }),
        ),
        port,
        port,
        fc.nat(0xffffffff),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom('full' as const, 'compressed' as const, 'mapped' as const),
        fc.array(fc.tuple(v6, port, v6, port, fc.nat(0xffffffff)), { maxLength: 20 }),
        (ends, lport, rport, tx, littleEndian, inTcp4, style, others) => {
          const bytes = (a: string | Buffer): Buffer => (typeof a === 'string' ? addressBytes(a)! : a)
          const local = bytes(ends.local)
          const remote = bytes(ends.remote)
          // An IPv4 connection is in tcp (4 bytes), or in tcp6 as IPv4-mapped (a dual-stack socket).
          const asTcp4 = ends.family === 4 && inTcp4
          const pl = printed(asTcp4 ? local.subarray(12) : local, littleEndian)
          const pr = printed(asTcp4 ? remote.subarray(12) : remote, littleEndian)
          const name = (b: Buffer, a: string | Buffer): string => (typeof a === 'string' ? a : v6Text(b, style))
          const named = {
            localAddress: name(local, ends.local),
            localPort: lport,
            remoteAddress: name(remote, ends.remote),
            remotePort: rport,
          }
          const wanted = tableEnds(named, littleEndian)!
          assert.ok(wanted, 'Node names it')
          const key = wanted[0]!
          let table = HEADER
          others.forEach(([l, lp, r, rp, t], i) => {
            table += line(i, printed(l, littleEndian), lp, printed(r, littleEndian), rp, '01', t)
          })
          table += line(others.length, pl, lport, pr, rport, '01', tx)
          const found = new Map<string, TableReading>()
          unsentIn([table], [wanted], found)
          const same = others.filter(
            ([l, lp, r, rp]) => l.equals(local) && lp === lport && r.equals(remote) && rp === rport,
          )
          assert.equal(found.get(key)?.unsent, Math.max(tx, ...same.map((o) => o[4])))
          // Read in the other byte order, an address is another one (unless it reads the same both ways).
          const other = new Map<string, TableReading>()
          const swapped = tableEnds(named, !littleEndian)!
          unsentIn([table], [swapped], other)
          const symmetric =
            printed(local, true) === printed(local, false) && printed(remote, true) === printed(remote, false)
          if (!symmetric && same.length === 0) assert.equal(other.get(swapped[0]!), undefined)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: IPv6 text in any of its forms is the same 16 bytes', () => {
    fc.assert(
      fc.property(v6, (b) => {
        for (const style of ['full', 'compressed', 'mapped'] as const)
          assert.deepEqual(addressBytes(v6Text(b, style)), b)
      }),
    )
  })

  it('property: TIME_WAIT and LISTEN lines, and any malformed line, are passed over without throwing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom(' 0: 0100007F:1 0100007F:0002 01 1:0', ' 1: zz:zz')), {
          maxLength: 30,
        }),
        fc.constantFrom('06', '0A'),
        (junk, state) => {
          const ends = tableEnds(
            { localAddress: '127.0.0.1', localPort: 1, remoteAddress: '127.0.0.1', remotePort: 2 },
            true,
          )!
          const table = `${HEADER}${junk.join('\n')}\n${line(9, '0100007F', 1, '0100007F', 2, state, 99)}`
          const found = new Map<string, TableReading>()
          unsentIn([table], [ends], found)
          assert.equal(found.size, 0)
        },
      ),
    )
  })
})

describe('unsent bytes (unsent-bytes.ts): one read of the table per poll, for every connection watched', () => {
  it('one read per poll whatever the number watched, none while nothing is; a poll begun before a watch does not answer it', async () => {
    let reads = 0
    let release: (() => void) | undefined
    const tables = `${HEADER}${line(0, '0100007F', 1, '0100007F', 2, '01', 5)}`
    const unsent = new UnsentBytes(
      async () => {
        reads++
        if (reads === 1) await new Promise<void>((r) => (release = r)) // the first poll is slow
        return [tables, '']
      },
      { intervalMs: 10, littleEndian: true },
    )
    const first: unknown[] = []
    const stopFirst = unsent.watch(
      { localAddress: '127.0.0.1', localPort: 1, remoteAddress: '127.0.0.1', remotePort: 2 },
      (n) => first.push(n),
    )
    await until(() => release !== undefined, 1000, 1)
    const late: unknown[] = []
    const stopLate = unsent.watch(
      { localAddress: '127.0.0.1', localPort: 1, remoteAddress: '127.0.0.1', remotePort: 3 },
      (n) => late.push(n),
    )
    const many = Array.from({ length: 100 }, (_, i) =>
      unsent.watch({ localAddress: '::1', localPort: i + 10, remoteAddress: '::1', remotePort: 9 }, () => undefined),
    )
    release!()
    assert.ok(await until(() => late.length > 0, 2000, 1))
    assert.equal(first[0], 5)
    assert.equal(late[0], 'missing', 'not in the table; and not answered by the poll begun before it')
    assert.ok(first.length >= late.length + 1)
    assert.equal(reads, unsent.polls, 'one read per poll')
    for (const stop of [stopFirst, stopLate, ...many]) stop()
    const readsThen = reads
    await new Promise((r) => setTimeout(r, 100))
    assert.ok(reads <= readsThen + 1, 'no polling while nothing is watched')
    assert.equal(unsent.watching, 0)
  })

  it("a system without the table answers 'unknown', without reading again", async () => {
    let reads = 0
    const unsent = new UnsentBytes(async () => {
      reads++
      return undefined
    })
    const got: unknown[] = []
    const stop = unsent.watch(
      { localAddress: '127.0.0.1', localPort: 1, remoteAddress: '127.0.0.1', remotePort: 2 },
      (n) => got.push(n),
    )
    assert.ok(await until(() => got.length >= 2, 2000, 1))
    stop()
    assert.deepEqual(got.slice(0, 2), ['unknown', 'unknown'])
    assert.equal(reads, 1)
  })

  it('on Linux, a real connection whose peer does not read: its unsent bytes grow, then fall to 0 once it reads', {
    skip: !existsSync('/proc/net/tcp'),
  }, async (t) => {
    const accepted: Socket[] = []
    const server = createServer((s) => accepted.push(s)).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    assert.ok(address && typeof address === 'object')
    const client = connect(address.port, '127.0.0.1')
    await once(client, 'connect')
    client.pause()
    onCleanup(t, () => {
      client.destroy()
      for (const s of accepted) s.destroy()
      server.close()
    })
    assert.ok(await until(() => accepted.length === 1, 2000))
    const sender = accepted[0]!
    sender.on('error', () => undefined)
    sender.write(Buffer.alloc(8 << 20))
    const unsent = new UnsentBytes(undefined, { intervalMs: 20 })
    const readings: unknown[] = []
    const stop = unsent.watch(sender, (n) => readings.push(n))
    onCleanup(t, stop)
    assert.ok(await until(() => readings.some((n) => typeof n === 'number' && n > 0), 3000), JSON.stringify(readings))
    client.resume()
    assert.ok(
      await until(() => readings.at(-1) === 0 && sender.writableLength === 0, 5000),
      JSON.stringify(readings.slice(-5)),
    )
  })
})
