import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { envName, resolveSettings } from '../../src/core/config.js'
import { hasCode } from '../../src/core/errors.js'
import { parseByteSize } from '../../src/core/setting-parsers.js'
import { SETTINGS } from '../../src/core/settings.js'
import { tmpDir } from '../helpers/files.js'

const specs = {
  port: SETTINGS.port,
  chunkSize: SETTINGS.chunkSize,
  chunksDir: SETTINGS.chunksDir,
  broadcast: SETTINGS.broadcast,
  interval: SETTINGS.interval,
}

describe('config', () => {
  it('derives env names from flags', () => {
    assert.equal(envName('chunks-dir'), 'P2P_CHUNKS_DIR')
    assert.equal(envName('udp-port'), 'P2P_UDP_PORT')
  })

  it('uses the defaults', async (t) => {
    const cwd = await tmpDir(t)
    const s = resolveSettings(specs, { flags: {}, env: {}, cwd })
    assert.deepEqual(s, {
      port: 47010,
      chunkSize: 1 << 20,
      chunksDir: join(cwd, 'chunks'),
      broadcast: 'auto',
      interval: 5,
    })
  })

  it('precedence is flag > env > file > default', async (t) => {
    const cwd = await tmpDir(t)
    await writeFile(
      join(cwd, 'p2p.config.json'),
      JSON.stringify({ port: 1111, chunkSize: '8KiB', chunksDir: 'from-file', interval: 2 }),
    )
    const env = { P2P_PORT: '2222', P2P_CHUNK_SIZE: '16KiB' }
    const s = resolveSettings(specs, { flags: { port: '3333' }, env, cwd })
    assert.equal(s.port, 3333)
    assert.equal(s.chunkSize, 16384)
    assert.equal(s.chunksDir, join(cwd, 'from-file'))
    assert.equal(s.interval, 2)
    assert.equal(s.broadcast, 'auto')
  })

  it("reads --config FILE and rejects unknown keys, not other commands' keys", async (t) => {
    const cwd = await tmpDir(t)
    await writeFile(join(cwd, 'a.json'), JSON.stringify({ udpPort: 5000 }))
    const s = resolveSettings({ udpPort: SETTINGS.udpPort }, { flags: {}, env: {}, cwd, configFile: 'a.json' })
    assert.equal(s.udpPort, 5000)
    await writeFile(join(cwd, 'b.json'), JSON.stringify({ chunkSzie: 5 }))
    const fileKeys = { otherKeys: new Set(['wait']), sections: new Set(['serve', 'download']), command: 'serve' }
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 'b.json', fileKeys }),
      (e) => hasCode(e, 'E_USAGE') && /chunkSzie/.test(e.message),
    )
    // Another command's setting: one file serves them all.
    await writeFile(join(cwd, 'c.json'), JSON.stringify({ wait: 3, udpPort: 5001 }))
    const shared = resolveSettings(
      { udpPort: SETTINGS.udpPort },
      { flags: {}, env: {}, cwd, configFile: 'c.json', fileKeys },
    )
    assert.equal(shared.udpPort, 5001)
    // A command's section over the top level; another command's section is not read; a typo in one is refused.
    await writeFile(
      join(cwd, 's.json'),
      JSON.stringify({ port: 4000, serve: { port: 4001 }, download: { port: 4002, wait: 9 } }),
    )
    const serve = resolveSettings({ port: SETTINGS.port }, { flags: {}, env: {}, cwd, configFile: 's.json', fileKeys })
    assert.equal(serve.port, 4001)
    const other = resolveSettings(
      { port: SETTINGS.port },
      { flags: {}, env: {}, cwd, configFile: 's.json', fileKeys: { ...fileKeys, command: 'listen' } },
    )
    assert.equal(other.port, 4000)
    // Several sections (p2p get: download's, then its own): a later one's keys over an earlier one's.
    await writeFile(join(cwd, 'g.json'), JSON.stringify({ port: 4000, download: { port: 4002 }, get: { udpPort: 7 } }))
    const gets = { ...fileKeys, sections: new Set(['download', 'get']), command: ['download', 'get'] }
    const get = resolveSettings(
      { port: SETTINGS.port, udpPort: SETTINGS.udpPort },
      { flags: {}, env: {}, cwd, configFile: 'g.json', fileKeys: gets },
    )
    assert.deepEqual([get.port, get.udpPort], [4002, 7])
    await writeFile(join(cwd, 'h.json'), JSON.stringify({ download: { port: 4002 }, get: { port: 'x' } }))
    assert.throws(
      () => resolveSettings({ port: SETTINGS.port }, { flags: {}, env: {}, cwd, configFile: 'h.json', fileKeys: gets }),
      (e) => hasCode(e, 'E_USAGE') && /for "port" in the "get" section of .*h\.json/.test(e.message),
    )
    await writeFile(join(cwd, 't.json'), JSON.stringify({ serve: { prot: 1 } }))
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 't.json', fileKeys }),
      (e) => hasCode(e, 'E_USAGE') && /unknown setting "prot" in the "serve" section of config file/.test(e.message),
    )
    // With the keys each section may hold: another command's key in a section is refused, whoever reads the file.
    await writeFile(join(cwd, 'w.json'), JSON.stringify({ wait: 3, download: { wait: 4 }, serve: { wait: 5 } }))
    const sectionKeys = new Map([
      ['serve', new Set<string>()],
      ['download', new Set(['wait'])],
    ])
    for (const command of ['serve', 'download', 'listen'])
      assert.throws(
        () =>
          resolveSettings(specs, {
            flags: {},
            env: {},
            cwd,
            configFile: 'w.json',
            fileKeys: { ...fileKeys, sectionKeys, command },
          }),
        (e) =>
          hasCode(e, 'E_USAGE') &&
          /^setting "wait" in the "serve" section of config file .*w\.json is not one of serve's \(another command's: put it at the top level/.test(
            e.message,
          ),
        command,
      )
    await writeFile(
      join(cwd, 'x.json'),
      JSON.stringify({ wait: 3, download: { wait: 4, port: 1 }, serve: { port: 2 } }),
    )
    const both = { ...fileKeys, sectionKeys, command: 'serve' }
    assert.equal(resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 'x.json', fileKeys: both }).port, 2)
    await writeFile(join(cwd, 'u.json'), JSON.stringify({ serve: { port: 'x' } }))
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 'u.json', fileKeys }),
      (e) =>
        hasCode(e, 'E_USAGE') && /invalid value "x" for "port" in the "serve" section of .*u\.json/.test(e.message),
    )
    await writeFile(join(cwd, 'v.json'), JSON.stringify({ serve: 3 }))
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 'v.json', fileKeys }),
      (e) => hasCode(e, 'E_USAGE') && /"serve" in config file .* must be a JSON object/.test(e.message),
    )
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 'missing.json' }),
      (e) => hasCode(e, 'E_USAGE') && /missing\.json: file not found$/.test(e.message),
    )
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: cwd }),
      (e) => hasCode(e, 'E_USAGE') && /: it is a directory, not a regular file$/.test(e.message),
      'a directory named by mistake: not "remove or replace it"',
    )
    await writeFile(join(cwd, 'd.json'), JSON.stringify({ port: '53111x' }))
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: {}, cwd, configFile: 'd.json' }),
      (e) => hasCode(e, 'E_USAGE') && /^invalid value "53111x" for "port" in .*d\.json: /.test(e.message),
    )
  })

  const invalid: Array<[Record<string, string>, RegExp]> = [
    [{ port: '70000' }, /--port/],
    [{ port: 'abc' }, /--port/],
    [{ port: '-1' }, /--port/],
    [{ chunkSize: '0' }, /--chunk-size/],
    [{ chunkSize: 'abc' }, /--chunk-size/],
    [{ chunkSize: '4095' }, /--chunk-size/],
    [{ chunkSize: '64MiB1' }, /--chunk-size/],
    [{ chunkSize: String(64 * 1024 * 1024 + 1) }, /--chunk-size/],
    [{ broadcast: 'nope' }, /--broadcast/],
    [{ interval: '0' }, /--interval/],
  ]
  for (const [flags, pattern] of invalid) {
    it(`rejects ${JSON.stringify(flags)} with one line and E_USAGE`, () => {
      assert.throws(
        () => resolveSettings(specs, { flags, env: {} }),
        (e) => hasCode(e, 'E_USAGE') && pattern.test(e.message) && !e.message.includes('\n'),
      )
    })
  }

  it('never quotes a secret back, whatever shape it was given in (fourth attacker pass: a list in the config file was)', async (t) => {
    const cwd = await tmpDir(t)
    await writeFile(join(cwd, 's.json'), JSON.stringify({ secret: ['correct horse battery staple psk1-QQQQQQQ'] }))
    assert.throws(
      () => resolveSettings({ secret: SETTINGS.secret }, { flags: {}, env: {}, cwd, configFile: 's.json' }),
      (e) => hasCode(e, 'E_USAGE') && /secret/.test(e.message) && !/horse|QQQQ/.test(e.message),
    )
  })

  it('names the env variable when the bad value came from it', () => {
    assert.throws(
      () => resolveSettings(specs, { flags: {}, env: { P2P_PORT: 'x' } }),
      (e) => hasCode(e, 'E_USAGE') && /P2P_PORT/.test(e.message),
    )
  })

  it('parses byte sizes in binary units, at and past the bounds', () => {
    const parse = parseByteSize(4096, 64 << 20)
    assert.equal(parse('65536'), 65536)
    assert.equal(parse('512KiB'), 512 * 1024)
    assert.equal(parse('4MiB'), 4 << 20)
    assert.equal(parse('4 MiB'), 4 << 20)
    assert.equal(parse('4KiB'), 4096)
    assert.equal(parse('64MiB'), 64 << 20)
    assert.equal(parse('1mb'), 1 << 20)
    assert.throws(() => parse('4095'))
    assert.throws(() => parse('65MiB'))
    assert.throws(() => parse('1.5'))
  })

  it('accepts a broadcast list, and in a config file an array too (as "peers" is)', async (t) => {
    assert.deepEqual(
      resolveSettings(specs, { flags: { broadcast: '127.255.255.255, 10.0.0.255' }, env: {} }).broadcast,
      ['127.255.255.255', '10.0.0.255'],
    )
    const cwd = await tmpDir(t)
    const fromFile = async (broadcast: unknown) => {
      await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ broadcast }))
      return resolveSettings(specs, { flags: {}, env: {}, cwd }).broadcast
    }
    assert.deepEqual(await fromFile(['127.255.255.255', '10.0.0.255,ff12::7032:7032']), [
      '127.255.255.255',
      '10.0.0.255',
      'ff12::7032:7032',
    ])
    assert.equal(await fromFile(['auto']), 'auto')
    for (const bad of [[], [7], ['auto', '10.0.0.255'], ['fd00::1'], {}])
      await assert.rejects(
        async () => fromFile(bad),
        (e) => hasCode(e, 'E_USAGE') && /"broadcast"/.test((e as Error).message),
        JSON.stringify(bad),
      )
  })

  it('a pair given two ways (--allow and --allow-file, --secret and --secret-file): the higher source alone; from one source, both', async (t) => {
    const pairs = {
      allow: SETTINGS.allow,
      allowFile: SETTINGS.allowFile,
      secret: SETTINGS.secret,
      secretFile: SETTINGS.secretFile,
    }
    const cwd = await tmpDir(t)
    await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ allowFile: 'from-file.txt' }))
    // A UX audit: --allow narrowing the peers was merged with the file's list, and a flag's secret refused beside
    // the environment's as "given twice".
    const narrowed = resolveSettings(pairs, { flags: { allow: 'AAAA' }, env: { P2P_SECRET: 'e' }, cwd })
    assert.deepEqual([narrowed.allow, narrowed.allowFile, narrowed.secret], [['AAAA'], undefined, 'e'])
    const overEnv = resolveSettings(pairs, { flags: { secretFile: 's.txt' }, env: { P2P_SECRET: 'e' }, cwd })
    assert.deepEqual([overEnv.secret, overEnv.secretFile], [undefined, join(cwd, 's.txt')])
    const fileOnly = resolveSettings(pairs, { flags: {}, env: {}, cwd })
    assert.deepEqual([fileOnly.allow, fileOnly.allowFile], [[], join(cwd, 'from-file.txt')])
    const bothFlags = resolveSettings(pairs, { flags: { allow: 'AAAA', allowFile: 'f.txt' }, env: {}, cwd })
    assert.deepEqual([bothFlags.allow, bothFlags.allowFile], [['AAAA'], join(cwd, 'f.txt')])
    // A config file's "allow" may be a list, as "peers" and "broadcast" are (it was refused as an object).
    await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ allow: ['AAAA', 'BBBB,CCCC'] }))
    assert.deepEqual(resolveSettings(pairs, { flags: {}, env: {}, cwd }).allow, ['AAAA', 'BBBB', 'CCCC'])
  })

  it('accepts IPv6 groups in the broadcast list, not IPv6 unicast addresses', () => {
    assert.deepEqual(
      resolveSettings(specs, { flags: { broadcast: '10.0.0.255,ff12::7032:7032%eth0,ff12::7032:7032' }, env: {} })
        .broadcast,
      ['10.0.0.255', 'ff12::7032:7032%eth0', 'ff12::7032:7032'],
    )
    assert.throws(
      () => resolveSettings(specs, { flags: { broadcast: 'fd00::1' }, env: {} }),
      (e) => hasCode(e, 'E_USAGE'),
    )
  })

  it('--peer is repeatable, P2P_PEERS comma-separated, the file key "peers" a list; on/off settings take --no-…', async (t) => {
    const peerSpecs = { peer: SETTINGS.peer, knownPeers: SETTINGS.knownPeers, ipv6: SETTINGS.ipv6 }
    const cwd = await tmpDir(t)
    assert.deepEqual(resolveSettings(peerSpecs, { flags: {}, env: {}, cwd }), {
      peer: [],
      knownPeers: true,
      ipv6: true,
    })
    assert.deepEqual(
      resolveSettings(peerSpecs, { flags: { peer: ['a.lan', '10.0.0.2:9'], knownPeers: false }, env: {}, cwd }),
      { peer: ['a.lan', '10.0.0.2:9'], knownPeers: false, ipv6: true },
    )
    assert.deepEqual(
      resolveSettings(peerSpecs, { flags: {}, env: { P2P_PEERS: 'a.lan, [fd00::1]:9', P2P_IPV6: 'off' }, cwd }),
      { peer: ['a.lan', '[fd00::1]:9'], knownPeers: true, ipv6: false },
    )
    await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ peers: ['b.lan'], knownPeers: 'off' }))
    assert.deepEqual(resolveSettings(peerSpecs, { flags: {}, env: {}, cwd }), {
      peer: ['b.lan'],
      knownPeers: false,
      ipv6: true,
    })
    await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ peers: [7] }))
    assert.throws(
      () => resolveSettings(peerSpecs, { flags: {}, env: {}, cwd }),
      (e) => hasCode(e, 'E_USAGE') && /"peers"/.test(e.message),
    )
  })
})
