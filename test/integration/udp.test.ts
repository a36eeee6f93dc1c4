import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bindUdp } from '../../src/core/discovery/udp.js'
import { hasCode } from '../../src/core/errors.js'
import { silentLogger } from '../../src/core/log.js'

const options = { address: '127.0.0.1', log: silentLogger(), onMessage: () => undefined }

describe('bindUdp (announcer and listener sockets)', () => {
  it('shares a port between sockets that all reuse it, and says which port is taken otherwise', async () => {
    const first = await bindUdp({ ...options, port: 0, reuseAddr: true })
    const { port } = first.address()
    const second = await bindUdp({ ...options, port, reuseAddr: true })
    await assert.rejects(
      bindUdp({ ...options, port, reuseAddr: false }),
      (err) =>
        hasCode(err, 'E_USAGE') && err.message.includes(`UDP port ${port}`) && err.message.includes('EADDRINUSE'),
    )
    await Promise.all([first, second].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  })
})
