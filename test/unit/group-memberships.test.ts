import assert from 'node:assert/strict'
import type { Socket } from 'node:dgram'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { GroupMemberships, MAX_STALE_MEMBERSHIPS } from '../../src/core/discovery/group-memberships.js'
import { silentLogger } from '../../src/core/log.js'

/** A socket that records memberships by interface index, as the kernel holds them; a gone name is index 0. */
function fakeKernel() {
  const indexes = new Map<string, number>()
  let next = 1
  const held = new Set<string>() // `${group}@${index}`
  const indexOf = (zoned: string): number => indexes.get(zoned.slice(zoned.indexOf('%') + 1)) ?? 0
  const socket = {
    addMembership(group: string, iface: string) {
      const index = indexOf(iface)
      if (index === 0) throw new Error('index 0 joins where the routes say: the code must never ask')
      if (held.has(`${group}@${index}`)) throw Object.assign(new Error('in use'), { code: 'EADDRINUSE' })
      held.add(`${group}@${index}`)
    },
    dropMembership(group: string, iface: string) {
      const index = indexOf(iface)
      if (index === 0) throw new Error('index 0 drops another interface’s membership: the code must never ask')
      if (!held.delete(`${group}@${index}`)) throw Object.assign(new Error('not held'), { code: 'EADDRNOTAVAIL' })
    },
  } as unknown as Socket
  return {
    socket,
    held,
    make: (name: string) => indexes.set(name, next++),
    remove: (name: string) => indexes.delete(name),
    live: (): Set<number> => new Set(indexes.values()),
    memberships: new GroupMemberships(
      silentLogger(),
      (name) => indexes.get(name),
      () => new Set(indexes.keys()),
    ),
  }
}

const GROUP = 'ff12::7032:7032'

describe('GroupMemberships', () => {
  it('holds the group on every live interface at its present index, never naming a gone one; a new socket exactly when 32 dead ones are held', () => {
    const names = ['a', 'b', 'c', 'd']
    const wanted = names.map((n) => ({ group: GROUP, interface: n }))
    fc.assert(
      fc.property(
        fc.array(fc.record({ op: fc.constantFrom('make', 'remove', 'sync'), name: fc.constantFrom(...names) }), {
          maxLength: 200,
        }),
        (steps) => {
          const k = fakeKernel() // its socket throws if a gone name (index 0) is ever joined or left
          for (const { op, name } of steps) {
            if (op === 'make') {
              k.remove(name) // made again under its name: a new index
              k.make(name)
            } else if (op === 'remove') {
              k.remove(name)
            } else {
              const renew = k.memberships.sync(k.socket, wanted)
              for (const index of k.live()) assert.ok(k.held.has(`${GROUP}@${index}`), `index ${index} joined`)
              const dead = [...k.held].filter((m) => !k.live().has(Number(m.split('@')[1]))).length
              assert.equal(renew, dead >= MAX_STALE_MEMBERSHIPS, `${dead} dead memberships held`)
              if (renew) {
                k.held.clear() // the socket made anew holds nothing
                k.memberships.reset()
                k.memberships.sync(k.socket, wanted)
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('a deleted interface’s membership is never left by name (that dropped a live one’s); past the bound, a new socket', () => {
    const k = fakeKernel()
    k.make('live0')
    const groups = (names: string[]) => names.map((n) => ({ group: GROUP, interface: n }))
    let renew = false
    for (let i = 0; i < MAX_STALE_MEMBERSHIPS && !renew; i++) {
      k.make(`veth${i}`)
      k.memberships.sync(k.socket, groups(['live0', `veth${i}`]))
      k.remove(`veth${i}`)
      renew = k.memberships.sync(k.socket, groups(['live0']))
      assert.ok(k.held.has(`${GROUP}@1`), 'the live interface keeps its membership')
    }
    assert.equal(renew, true, `a new socket asked for after ${MAX_STALE_MEMBERSHIPS} gone`)
  })
})
