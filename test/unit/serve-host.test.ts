import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { discoveryFollowing, endpoint, servedFamilies } from '../../src/cli/serve.js'
import { hasCode } from '../../src/core/errors.js'

/** p2p share announces only on the families its server answers: an IPv6 announcement for a server on 0.0.0.0 sends downloaders to a refused port. */

describe('the server host and discovery', () => {
  it('families a host serves', () => {
    assert.deepEqual(servedFamilies('::'), { ipv4: true, ipv6: true })
    assert.deepEqual(servedFamilies('0.0.0.0'), { ipv4: true, ipv6: false })
    assert.deepEqual(servedFamilies('192.168.1.20'), { ipv4: true, ipv6: false })
    assert.deepEqual(servedFamilies('fd00::20'), { ipv4: false, ipv6: true })
    assert.deepEqual(servedFamilies('fe80::1%eth0'), { ipv4: false, ipv6: true })
    assert.deepEqual(servedFamilies('localhost'), { ipv4: true, ipv6: true })
  })

  it('discovery follows the host; both off is a usage error, not silence', () => {
    const on = { ipv4: true, ipv6: true, udpPort: 1 }
    assert.deepEqual(discoveryFollowing('0.0.0.0', on), { ...on, ipv6: false })
    assert.deepEqual(discoveryFollowing('fd00::20', on), { ...on, ipv4: false })
    assert.deepEqual(discoveryFollowing('::', on), on)
    assert.throws(
      () => discoveryFollowing('0.0.0.0', { ...on, ipv4: false }),
      (err) =>
        hasCode(err, 'E_USAGE') &&
        /^--host 0\.0\.0\.0 serves IPv4 only, and discovery on IPv4 is off/.test(err.message),
    )
    // The default "::" on a host without IPv6 became 0.0.0.0: the error says so, not a --host the user never gave.
    assert.throws(
      () => discoveryFollowing('0.0.0.0', { ...on, ipv4: false }, '::'),
      (err) =>
        hasCode(err, 'E_USAGE') &&
        /^this host has no IPv6 address, so the server listens on 0\.0\.0\.0/.test(err.message),
    )
  })

  it('prints IPv6 endpoints in brackets', () => {
    assert.equal(endpoint('::', 47010), '[::]:47010')
    assert.equal(endpoint('fe80::1%eth0', 5), '[fe80::1%eth0]:5')
    assert.equal(endpoint('127.0.0.1', 5), '127.0.0.1:5')
  })
})
