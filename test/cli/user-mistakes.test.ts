import assert from 'node:assert/strict'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, storeArgs } from '../helpers/swarm.js'

/**
 * What a user types by mistake is told what to type instead, in one line
 * with its code (a UX audit, fifty-ninth session: a path to `p2p get` was
 * told its name held a "/", an empty path was "no such file", and an id
 * given to p2p-download as its name was looked for as a name, silently).
 */
describe('user mistakes (the built commands)', () => {
  it('a path where a download takes a name: E_BAD_NAME naming the name to give, exit 2, nothing asked of the LAN', async (t) => {
    const dir = await tmpDir(t)
    for (const command of ['p2p-download', 'p2p']) {
      const args = command === 'p2p' ? ['get'] : []
      const r = await runBin(command, [...args, '/home/me/movie.mkv', ...downloadArgs(dir, await freeUdpPort())])
      assert.equal(r.code, 2, r.stderr)
      const result = JSON.parse(r.stdout) as { code: string; message: string }
      assert.equal(result.code, 'E_BAD_NAME')
      assert.match(result.message, /is a path: give the name .*\("movie\.mkv"\?\)/)
    }
  })

  it('an empty path to split: E_USAGE, exit 2 (was E_NOT_FOUND, "no such file: ")', async (t) => {
    const dir = await tmpDir(t)
    const r = await runBin('p2p-split', ['', '--json', '--logs-dir', join(dir, 'logs')], { cwd: dir })
    assert.equal(r.code, 2, r.stderr)
    assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'E_USAGE')
  })

  it("flags only --seed reads, given without it: E_USAGE naming them, exit 2; from the environment (another command's) nothing", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const args = ['f.bin', '--wait', '0.5', '--no-known-peers', ...downloadArgs(dir, udp)]
    const r = await runBin('p2p-download', [...args, '--port', '47999', '--upload-slots', '2'])
    assert.equal(r.code, 2, r.stderr)
    assert.match((JSON.parse(r.stdout) as { message: string }).message, /^--port, --upload-slots: only with --seed/)
    const fromEnv = await runBin('p2p-download', args, { env: { ...process.env, P2P_PORT: '47999' } })
    assert.equal(fromEnv.code, 3, fromEnv.stderr)
  })

  it('--wait 0 (nothing is heard in no time): E_USAGE saying the range, exit 2, from the flag or the environment', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    for (const command of ['p2p-download', 'p2p']) {
      const args = [...(command === 'p2p' ? ['get'] : []), 'f.bin', '--no-known-peers', ...downloadArgs(dir, udp)]
      const r = await runBin(command, [...args, '--wait', '0'])
      assert.equal(r.code, 2, r.stderr)
      const result = JSON.parse(r.stdout) as { code: string; message: string }
      assert.equal(result.code, 'E_USAGE')
      assert.match(result.message, /^invalid value "0" for --wait: must be from 0\.05 to 86400 seconds$/)
      const fromEnv = await runBin(command, args, { env: { ...process.env, P2P_WAIT: '0' } })
      assert.equal(fromEnv.code, 2, fromEnv.stderr)
      assert.match((JSON.parse(fromEnv.stdout) as { message: string }).message, /for P2P_WAIT: must be from 0\.05/)
    }
  })

  it('p2p-split given a swarm secret without --with-secret (which alone reads it): E_USAGE naming both, exit 2; from the environment, nothing', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'f.bin'), 'some bytes')
    const secret = (await runBin('p2p', ['secret'])).stdout.trim()
    await writeFile(join(dir, 'swarm.secret'), `${secret}\n`, { mode: 0o600 })
    const args = ['f.bin', '--json', '--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs')]
    for (const [given, flag] of [
      [['--secret-file', 'swarm.secret'], '--secret-file'],
      [['--secret', secret], '--secret'],
    ] as const) {
      const r = await runBin('p2p-split', [...args, ...given], { cwd: dir })
      assert.equal(r.code, 2, r.stderr)
      const result = JSON.parse(r.stdout) as { code: string; message: string }
      assert.equal(result.code, 'E_USAGE')
      assert.ok(result.message.startsWith(`${flag}: only with --with-secret`), result.message)
      assert.ok(!result.message.includes(secret), 'the secret is not quoted back')
    }
    const withIt = await runBin('p2p-split', [...args, '--secret-file', 'swarm.secret', '--with-secret'], { cwd: dir })
    assert.equal(withIt.code, 0, withIt.stderr)
    assert.match((JSON.parse(withIt.stdout) as { link: string }).link, /[?&]secret=/)
    const fromEnv = await runBin('p2p-split', args, { cwd: dir, env: { ...process.env, P2P_SECRET: secret } })
    assert.equal(fromEnv.code, 0, fromEnv.stderr)
    assert.doesNotMatch((JSON.parse(fromEnv.stdout) as { link: string }).link, /secret=/)
  })

  it('a config section holding another command\'s key ("get": {"id": …}, p2p-listen\'s): E_USAGE naming the key, section and file, exit 2, from every command', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const config = join(dir, 'p2p.config.json')
    await writeFile(config, JSON.stringify({ get: { id: 'ab'.repeat(32) } }))
    for (const [command, args] of [
      ['p2p', ['get', '--no-known-peers', ...downloadArgs(dir, udp)]],
      ['p2p-split', ['f.bin', '--json', '--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs')]],
    ] as const) {
      const r = await runBin(command, [...args, '--config', config])
      assert.equal(r.code, 2, r.stderr)
      const result = JSON.parse(r.stdout) as { code: string; message: string }
      assert.equal(result.code, 'E_USAGE')
      assert.ok(
        result.message.startsWith(`setting "id" in the "get" section of config file ${config} is not one of get's`),
        result.message,
      )
    }
    // At the top level, p2p-listen's key is taken by every command, as before (one file serves them all).
    await writeFile(config, JSON.stringify({ id: 'ab'.repeat(32), get: { wait: 0.5 } }))
    const r = await runBin('p2p', ['get', 'f.bin', '--no-known-peers', ...downloadArgs(dir, udp), '--config', config])
    assert.equal(r.code, 3, r.stderr)
    assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'E_NOT_FOUND')
  })

  it('a mistyped link or id: the message says where (the place of a bad character, the count) or shows the whole id, not the first 12 characters a right one shares', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const id = 'ab'.repeat(32)
    const get = async (
      ...args: string[]
    ): Promise<{ code: number | null; result: { code: string; message: string } }> => {
      const r = await runBin('p2p', ['get', ...args, '--wait', '0.5', '--no-known-peers', ...downloadArgs(dir, udp)])
      return { code: r.code, result: JSON.parse(r.stdout) as { code: string; message: string } }
    }
    const badLink = await get(`p2p://${id.slice(0, 40)}g${id.slice(41)}`)
    assert.equal(badLink.code, 2)
    assert.match(
      badLink.result.message,
      /the id is not 64 hexadecimal digits: its character 41 is not a hexadecimal digit/,
    )
    const short = await get('--id', id.slice(1))
    assert.equal(short.code, 2)
    assert.match(
      short.result.message,
      /^--id must be 64 hex characters, got "b(ab){31}": it has 63 hexadecimal digits, not 64$/,
    )
    // 63 hex characters are a name to look for; said, if nobody has it, to be one short of an id.
    const asName = await get(id.slice(1))
    assert.equal(asName.result.code, 'E_NOT_FOUND')
    assert.match(asName.result.message, /\(if that is an id: it has 63 hexadecimal digits, not 64\)/)
    // A typo that is still 64 hex digits names another file: the whole id is shown, to compare with the one shared.
    const typo = `${id.slice(0, 50)}cc${id.slice(52)}`
    const none = await get(`p2p://${typo}`)
    assert.equal(none.result.code, 'E_NOT_FOUND')
    assert.ok(none.result.message.startsWith(`no peer delivered the manifest of ${typo} in time`), none.result.message)
  })

  it('--identity in a directory that is not there (a typo): E_NOT_FOUND naming it and how to make it, exit 3, nothing made; the default one is made', async (t) => {
    const dir = await tmpDir(t)
    const typo = join(dir, 'kyes', 'id.key')
    const logs = ['--logs-dir', join(dir, 'logs')]
    for (const [command, args] of [
      ['p2p', ['id', '--json', '--identity', typo, ...logs]],
      ['p2p-serve', ['--json', '--identity', typo, '--host', '127.0.0.1', '--port', '0', ...storeArgs(dir)]],
    ] as const) {
      const r = await runBin(command, [...args])
      assert.equal(r.code, 3, r.stderr)
      const result = JSON.parse(r.stdout) as { code: string; message: string }
      assert.equal(result.code, 'E_NOT_FOUND')
      assert.ok(
        result.message.startsWith(`no identity file at ${typo}, and no directory ${join(dir, 'kyes')} to make one in`),
        result.message,
      )
      assert.match(result.message, /mkdir -p /)
    }
    assert.ok(!(await readdir(dir)).includes('kyes'), 'no directory made')
    // Where the directory is there, and at the store's own place (its .p2p made), a new identity as before.
    await mkdir(join(dir, 'keys'))
    const made = await runBin('p2p', ['id', '--json', '--identity', join(dir, 'keys', 'id.key'), ...logs])
    assert.equal(made.code, 0, made.stderr)
    assert.equal((JSON.parse(made.stdout) as { created: boolean }).created, true)
    const own = await runBin('p2p', ['id', '--json', '--chunks-dir', join(dir, 'new-store'), ...logs])
    assert.equal(own.code, 0, own.stderr)
    assert.equal(
      (JSON.parse(own.stdout) as { identity: string }).identity,
      join(dir, 'new-store', '.p2p', 'identity.key'),
    )
  })

  it('a new identity made where --identity names it (a typo in its file name) is said on the mode line, once', async (t) => {
    const dir = await tmpDir(t)
    const typo = join(dir, 'idenity.key') // its directory is there: made, as asked
    const args = ['--id', '0'.repeat(64), '--wait', '0.1', '--identity', typo, '--broadcast', '127.255.255.255']
    const udp = String(await freeUdpPort())
    const run = () =>
      runBin('p2p-download', [...args, '--udp-port', udp, '--no-known-peers', ...storeArgs(join(dir, 'd'))])
    const first = await run()
    assert.match(
      first.stderr,
      new RegExp(`peer ID [A-Z2-7-]+ \\(a new identity, made now at ${typo.replace(/[.]/g, '\\.')}\\)`),
    )
    const second = await run()
    assert.match(second.stderr, /; peer ID [A-Z2-7-]+\n/, 'the same identity the next time: nothing said')
  })

  it("the store's own identity spelled out (--identity, P2P_IDENTITY, a config file) is made with its .p2p, as by default; a file or dangling link where the directory is named is said, not mkdir -p", async (t) => {
    // An attacker pass on the UX audit's fix: the documented default, given explicitly on a fresh store, was
    // E_NOT_FOUND ("mkdir -p …/.p2p"), though the same command without it made it.
    const dir = await tmpDir(t)
    const logs = ['--logs-dir', join(dir, 'logs')]
    const spelled = join(dir, 'fresh', '.p2p', 'identity.key')
    const given = await runBin('p2p', [
      'id',
      '--json',
      '--chunks-dir',
      join(dir, 'fresh'),
      '--identity',
      spelled,
      ...logs,
    ])
    assert.equal(given.code, 0, given.stdout + given.stderr)
    assert.deepEqual(
      (({ identity, created }) => ({ identity, created }))(
        JSON.parse(given.stdout) as { identity: string; created: boolean },
      ),
      { identity: spelled, created: true },
    )
    const env = await runBin('p2p', ['id', '--json', '--chunks-dir', join(dir, 'fresh2'), ...logs], {
      env: { ...process.env, P2P_IDENTITY: join(dir, 'fresh2', '.p2p', 'identity.key') },
    })
    assert.equal(env.code, 0, env.stdout + env.stderr)
    // Something there that is no directory: mkdir -p would fail on it ("File exists").
    await writeFile(join(dir, 'afile'), 'x')
    const onFile = await runBin('p2p', ['id', '--json', '--identity', join(dir, 'afile', 'id.key'), ...logs])
    assert.equal(onFile.code, 3, onFile.stderr)
    const result = JSON.parse(onFile.stdout) as { code: string; message: string }
    assert.equal(result.code, 'E_NOT_FOUND')
    assert.match(result.message, /afile is not a directory/)
    assert.doesNotMatch(result.message, /mkdir -p/)
  })

  it('64 hex characters that no one announces as a name: E_NOT_FOUND says how to give an id', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const r = await runBin('p2p-download', [
      'ab'.repeat(32),
      '--wait',
      '1',
      '--no-known-peers',
      ...downloadArgs(dir, udp),
    ])
    assert.equal(r.code, 3, r.stderr)
    const result = JSON.parse(r.stdout) as { code: string; message: string }
    assert.equal(result.code, 'E_NOT_FOUND')
    assert.match(result.message, /if that is an id: give it with --id, or use p2p get/)
  })
})
