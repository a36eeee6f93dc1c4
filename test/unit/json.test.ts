import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseJsonUtf8 } from '../../src/core/json.js'

describe('parseJsonUtf8', () => {
  it('parses UTF-8 JSON, names with any script included', () => {
    assert.deepEqual(parseJsonUtf8(Buffer.from('{"name":"été 東京.bin","n":[1,2]}')), {
      name: 'été 東京.bin',
      n: [1, 2],
    })
  })

  it('refuses bytes that are not UTF-8 instead of reading them as U+FFFD', () => {
    assert.throws(() => parseJsonUtf8(Buffer.from([0x7b, 0x22, 0x61, 0xff, 0x22, 0x3a, 0x31, 0x7d])), TypeError) // {"a\xff":1}
    assert.throws(
      () => parseJsonUtf8(Buffer.concat([Buffer.from('"'), Buffer.from('é').subarray(0, 1), Buffer.from('"')])),
      TypeError,
    )
  })

  it('refuses what is not JSON', () => {
    assert.throws(() => parseJsonUtf8(Buffer.from('{"a":')), SyntaxError)
  })
})
