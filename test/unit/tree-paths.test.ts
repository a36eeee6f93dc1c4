import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { TreeLayout } from '../../src/core/tree-layout.js'
import { isDir } from '../../src/core/tree-manifest.js'
import { caseless, collisionKey, compareUtf8, pathProblem, TreeShape } from '../../src/core/tree-paths.js'
import { treeArb } from '../helpers/trees.js'

const anyText = fc.string({ unit: 'binary', maxLength: 12 })
const wellFormed = anyText.filter((s) => s.isWellFormed())

describe('folder paths', () => {
  it('orders strings by their UTF-8 bytes (code points), not by UTF-16 units', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, (a, b) => {
        assert.equal(Math.sign(compareUtf8(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))))
      }),
      { numRuns: 2000 },
    )
    assert.ok(compareUtf8('\ue000', '\u{10000}') < 0, 'U+E000 before U+10000, though its UTF-16 unit is larger')
  })

  it('folds case and normalisation: a string, its upper and lower case and its NFD form share one key', () => {
    fc.assert(
      fc.property(wellFormed, (s) => {
        const key = caseless(s)
        assert.equal(caseless(s.toUpperCase()), key)
        assert.equal(caseless(s.toLowerCase()), key)
        assert.equal(caseless(s.normalize('NFD')), key)
        assert.equal(caseless(key), key, 'idempotent')
      }),
      { numRuns: 2000 },
    )
    for (const [a, b] of [
      ['A', 'a'],
      ['\u00c9', 'E\u0301'],
      ['ẞ', 'ß'],
      ['ß', 'SS'],
      ['\u212a', 'k'],
      ['Σ', 'ς'],
      ['ǰ', 'J\u030c'],
    ]) {
      assert.equal(caseless(a), caseless(b), `${a} ~ ${b}`)
    }
    assert.notEqual(caseless('a'), caseless('b'))
  })

  it('sees collisions of local (portable) names: a:b and a_b, CON and con_, "x." and "x_"', () => {
    assert.equal(collisionKey('a:b'), collisionKey('A_B'))
    assert.equal(collisionKey('CON'), collisionKey('con_'))
    assert.equal(collisionKey('x.'), collisionKey('x_'))
    assert.notEqual(collisionKey('x.'), collisionKey('x'))
  })

  it('folds out Default_Ignorable code points: a name with them inserted anywhere collides with the name without', () => {
    const ignorable = fc.constantFrom('\u200b', '\u00ad', '\ufe0f', '\u2060', '\u200d', '\u034f', '\u180e', '\u{e0001}')
    const name = wellFormed.filter((s) => s.length > 0 && !/\p{Default_Ignorable_Code_Point}/u.test(s))
    fc.assert(
      fc.property(name, fc.array(fc.tuple(fc.nat(), ignorable), { minLength: 1, maxLength: 4 }), (base, inserts) => {
        const points = [...base]
        for (const [at, ch] of inserts) points.splice(at % (points.length + 1), 0, ch)
        const spoofed = points.join('')
        assert.equal(collisionKey(spoofed), collisionKey(base), JSON.stringify(spoofed))
      }),
      { numRuns: 2000 },
    )
    for (const spoof of ['a\u200bb', 'a\u00adb', 'ab\ufe0f', 'a\u2060b']) {
      const shape = new TreeShape(10)
      assert.equal(shape.add('ab', false), undefined)
      assert.match(shape.add(spoof, false) ?? '', /would be one file/, JSON.stringify(spoof))
      assert.equal(shape.add('a\u2060c', false), undefined, 'a different name stays accepted, ignorables and all')
    }
    assert.notEqual(collisionKey('\u2764\ufe0f'), collisionKey('\u2765'), 'an emoji name stays itself')
  })

  it('refuses what a path must not be', () => {
    for (const bad of [
      '',
      '/a',
      'a/',
      'a//b',
      '.',
      '..',
      'a/..',
      '../a',
      'a\\b',
      'C:\\x',
      'a\u0000',
      'a\u0085b',
      'a\u2028b',
      'a\u202eb',
      'E\u0301',
      '\ud800',
      ' ',
      '\u200b',
      'x'.repeat(256),
      `${'x/'.repeat(2048)}x`,
      7,
      null,
    ]) {
      assert.notEqual(pathProblem(bad), undefined, `accepted ${JSON.stringify(bad)}`)
    }
    for (const good of [
      'a',
      'a/b',
      '.hidden/x',
      '.p2p',
      'sample file é.txt',
      '🎉/日本語',
      'a:b',
      'CON',
      'é'.repeat(127),
      `${'x/'.repeat(2047)}xx`,
    ]) {
      assert.equal(pathProblem(good), undefined, `refused ${JSON.stringify(good)}`)
    }
  })

  it('checks each entry once, yet refuses exactly what a whole-path check refuses', () => {
    fc.assert(
      fc.property(treeArb, fc.nat(), fc.constantFrom('..', '.', '', 'a\\b', '\u0001', 'E\u0301'), (m, at, bad) => {
        const shape = new TreeShape(1000)
        for (const e of m.entries) {
          assert.equal(pathProblem(e.path), undefined)
          assert.equal(shape.add(e.path, isDir(e)), undefined)
        }
        // A bad component anywhere in a path refuses it, whatever the entries before it.
        const dirs = m.entries.filter(isDir).map((e) => e.path)
        const base = dirs.length > 0 ? `${dirs[at % dirs.length]}/` : ''
        const fresh = new TreeShape(1000)
        for (const e of m.entries) fresh.add(e.path, isDir(e))
        assert.notEqual(fresh.add(`${base}${bad}/zzz`, false), undefined)
      }),
      { numRuns: 200 },
    )
  })

  it('bounds the entry count', () => {
    const shape = new TreeShape(2)
    assert.equal(shape.add('a', true), undefined)
    assert.equal(shape.add('b', true), undefined)
    assert.match(shape.add('c', true) ?? '', /more than 2 entries/)
  })
})

describe('folder layout', () => {
  it('puts every file on a fresh global chunk index, each chunk where a naive expansion puts it', () => {
    fc.assert(
      fc.property(treeArb, (m) => {
        const layout = new TreeLayout(m)
        const naive: Array<{ file: number; local: number; hash: string; length: number }> = []
        layout.files.forEach((f, k) => {
          f.chunks.forEach((hash, local) => {
            naive.push({ file: k, local, hash, length: Math.min(m.chunkSize, f.size - local * m.chunkSize) })
          })
        })
        assert.equal(layout.chunkCount, naive.length)
        assert.equal(
          layout.size,
          layout.files.reduce((s, f) => s + f.size, 0),
        )
        assert.deepEqual(
          layout.chunkHashes(),
          naive.map((c) => c.hash),
        )
        naive.forEach((c, index) => {
          const at = layout.locate(index)
          assert.deepEqual(at, { file: c.file, local: c.local, offset: c.local * m.chunkSize, length: c.length })
          assert.equal(layout.chunkHash(index), c.hash)
          assert.ok(at.length > 0)
        })
        assert.throws(() => layout.fileOf(naive.length), RangeError)
        assert.throws(() => layout.fileOf(-1), RangeError)
      }),
      { numRuns: 300 },
    )
  })
})
