import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hasCode } from '../../src/core/errors.js'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import { describeMode, loadTrust } from '../../src/core/trust/trust.js'
import { tmpDir } from '../helpers/files.js'

describe('trust settings', () => {
  it('resolves identity, secret (flag or file) and allow-list; says which mode it is in', async (t) => {
    const dir = await tmpDir(t)
    const identityPath = join(dir, 'identity.key')
    const open = await loadTrust({ transport: 'encrypted', identityPath })
    assert.equal(open.swarm, undefined)
    assert.match(describeMode(open), /encrypted.*open swarm/)
    const secret = generateSecret()
    const fromFlag = await loadTrust({ transport: 'encrypted', identityPath, secret, allow: [open.identity.peerId] })
    await writeFile(join(dir, 'secret'), `${secret}\n`, { mode: 0o600 })
    const fromFile = await loadTrust({ transport: 'encrypted', identityPath, secretFile: join(dir, 'secret') })
    assert.deepEqual(fromFile.swarm, fromFlag.swarm)
    assert.match(
      describeMode(fromFlag),
      new RegExp(`private swarm ${fromFlag.swarm!.tag}.*allow-list of 1 peer: no one else$`),
    )
    assert.match(describeMode({ transport: 'plain', swarm: undefined, allow: undefined }), /plain/)
  })

  it('refuses contradictions and a secret file others can read (E_USAGE)', async (t) => {
    const dir = await tmpDir(t)
    const identityPath = join(dir, 'identity.key')
    const secret = generateSecret()
    await writeFile(join(dir, 'open-secret'), secret, { mode: 0o644 })
    for (const settings of [
      { transport: 'plain' as const, identityPath, secret },
      { transport: 'plain' as const, identityPath, allow: ['x'] },
      { transport: 'encrypted' as const, identityPath, secret, secretFile: join(dir, 'open-secret') },
      { transport: 'encrypted' as const, identityPath, secretFile: join(dir, 'open-secret') },
      { transport: 'encrypted' as const, identityPath, secretFile: join(dir, 'absent') },
      { transport: 'encrypted' as const, identityPath, secret: 'too short' },
    ]) {
      await assert.rejects(loadTrust(settings), (err) => hasCode(err, 'E_USAGE'), JSON.stringify(settings))
    }
  })
})
