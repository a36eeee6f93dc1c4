import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { listenTable } from '../../src/cli/listing.js'
import type { KnownFile } from '../../src/core/discovery/claims.js'

const file = (name: string, id: string): KnownFile => ({ id, name, size: 1000, chunks: 1, disputed: false, peers: [] })

/** Code points a terminal shows as nothing, or that hide one name behind another. */
const HIDDEN = /\u200b|\u200c|\u200d|\u2060|\ufeff|[\u{e0000}-\u{e007f}]|[\u202a-\u202e]|[\u2066-\u2069]/u
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

describe("p2p-listen's live table (the attacker's finding 5)", () => {
  it('shows announced names escaped, so look-alikes differ on screen, and never cuts a code point in half', () => {
    const names = [
      'report.pdf',
      'report\u200b.pdf',
      'a\ufeffb',
      'c\u2060d',
      'tag\u{e0041}\u{e0042}',
      `${'x'.repeat(39)}😀😀`,
    ]
    const out = listenTable(
      names.map((n, i) => file(n, String(i).repeat(64).slice(0, 64))),
      '/tmp/\x1b[31md\x1b]0;title\x07.json', // the dictionary's path too: it may come from a config file
      0,
      () => 'lan',
    )
    assert.ok(!HIDDEN.test(out), JSON.stringify(out))
    assert.ok(!out.includes('\x1b'), "no raw escape, the path's either")
    assert.ok(!LONE_SURROGATE.test(out), 'no half of a surrogate pair')
    assert.match(out, /report\\u200b\.pdf/)
    const rows = out.split('\n').filter((line) => line.startsWith('report'))
    assert.equal(new Set(rows.map((r) => r.split(' ')[0])).size, 2, 'the two report names look different')
  })
})
