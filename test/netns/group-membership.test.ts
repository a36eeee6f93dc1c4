import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/cli.js'
import { NAME_ROOT, netnsAvailable } from './harness.js'

const skip = netnsAvailable()

/**
 * The IPv6 group's memberships follow the interfaces (discovery-sockets.ts
 * refresh and sync): an interface deleted and made again under its name is
 * joined again at the next refresh (it was taken for joined, and an IPv6
 * swarm there heard nothing more), and the membership of an interface no
 * longer wanted is dropped (they were kept for good, holding the socket's
 * option memory). In a namespace of the test's own, on a veth pair there.
 */
const CHILD = `
  import { execFileSync } from 'node:child_process'
  import { readFileSync } from 'node:fs'
  const { DiscoverySockets } = await import(process.argv[1])
  const ip = (...args) => execFileSync('ip', args, { stdio: 'ignore' })
  const members = () => readFileSync('/proc/net/igmp6', 'utf8').split('\\n')
    .filter((l) => / v0 +ff120000000000000000000070327032/.test(l)).length
  const makeV0 = () => { ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'); ip('link', 'set', 'v0', 'up'); ip('link', 'set', 'v1', 'up') }
  makeV0()
  const sockets = new DiscoverySockets({ port: 0, families: { ipv4: false, ipv6: true },
    groups: [{ group: 'ff12::7032:7032', interface: 'v0' }], onDatagram: () => {} })
  await sockets.start()
  const out = { atStart: members() }
  ip('link', 'del', 'v0'); makeV0()
  out.madeAgain = members()
  await sockets.refresh()
  out.refreshed = members()
  await sockets.sync([], [])
  out.notWanted = members()
  await sockets.stop()
  console.log(JSON.stringify(out))
`

describe('IPv6 group memberships follow the interfaces (a network namespace)', { skip }, () => {
  it('an interface made again under its name is joined again; one no longer wanted is left', () => {
    const ns = `${NAME_ROOT}${process.pid}grp`
    execFileSync('ip', ['netns', 'add', ns])
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
      const module = pathToFileURL(join(ROOT, 'dist/src/core/discovery/discovery-sockets.js')).href
      const out = execFileSync(
        'ip',
        ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', CHILD, module],
        { encoding: 'utf8', timeout: 30_000 },
      )
      assert.deepEqual(JSON.parse(out), { atStart: 1, madeAgain: 0, refreshed: 1, notWanted: 0 })
    } finally {
      execFileSync('ip', ['netns', 'del', ns])
    }
  })
})
