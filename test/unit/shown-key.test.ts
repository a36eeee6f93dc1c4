import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { shownKey } from '../../src/cli/receipt.js'

describe('a peer as the receipt shows it', () => {
  it('puts an IPv6 address in brackets, and leaves IPv4 and DHT peers as they are', () => {
    assert.equal(shownKey('::1:47661'), '[::1]:47661')
    assert.equal(shownKey('fe80::1%eth0:47010'), '[fe80::1%eth0]:47010')
    assert.equal(shownKey('127.0.0.1:47010'), '127.0.0.1:47010')
    assert.equal(shownKey('dht:ABCDEFG-HIJKLMN:0'), 'dht:ABCDEFG-HIJKLMN:0')
  })
})
