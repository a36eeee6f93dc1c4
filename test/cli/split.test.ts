import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { chmod, link, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseShareLink } from '../../src/core/discovery/share-link.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { BIN, permissionsBind, runBin } from '../helpers/cli.js'
import { randomFile, tmpDir } from '../helpers/files.js'

describe('p2p-split (the built command)', () => {
  it('splits, prints the id, and --json gives one object', async (t) => {
    const cwd = await tmpDir(t)
    const sha = await randomFile(join(cwd, 'movie.mkv'), 300_000)
    const human = await runBin('p2p-split', ['movie.mkv', '--chunk-size', '64KiB'], { cwd })
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /Split: movie\.mkv/)
    const json = await runBin('p2p-split', ['movie.mkv', '--chunk-size', '64KiB', '--json'], { cwd })
    assert.equal(json.code, 0)
    const result = JSON.parse(json.stdout)
    assert.equal(result.ok, true)
    assert.equal(result.unchanged, true)
    assert.equal(result.chunks, 5)
    assert.match(human.stdout, new RegExp(result.id))
    const manifest = JSON.parse(await readFile(join(cwd, 'chunks', 'movie.mkv', 'manifest.json'), 'utf8'))
    assert.equal(manifest.sha256, sha)
    const log = await readFile(join(cwd, 'logs', 'split.log'), 'utf8')
    assert.ok(
      log
        .split('\n')
        .filter(Boolean)
        .every((l) => JSON.parse(l).cmd === 'split'),
      'JSON lines',
    )
  })

  it('Ctrl-C mid-split: exit 130, and the hint says a re-run starts over (it does not resume)', async (t) => {
    const cwd = await tmpDir(t)
    const handle = await open(join(cwd, 'big.bin'), 'w')
    await handle.truncate(8 * 1024 ** 3) // sparse: seconds of hashing, no disk
    await handle.close()
    const child = spawn(process.execPath, [BIN('p2p-split'), 'big.bin'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    onCleanup(t as Cleanup, () => {
      child.kill('SIGKILL')
    })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const exited = once(child, 'exit')
    for (const deadline = Date.now() + 30_000; ; ) {
      const chunks = await readdir(join(cwd, 'chunks', 'big.bin')).catch(() => [] as string[])
      if (chunks.length >= 2 || child.exitCode !== null) break
      assert.ok(Date.now() < deadline, 'chunks within 30 s')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    child.kill('SIGINT')
    const [code] = (await exited) as [number | null]
    assert.equal(code, 130, stderr)
    assert.match(
      stderr,
      /interrupted by SIGINT — run the same command again \(the split starts over\) \[E_INTERRUPTED\]/,
    )
    assert.deepEqual(await readdir(join(cwd, 'chunks')), ['.p2p'], "the new entry's chunk files went with it")
  })

  it('the umbrella p2p offers the same command, and env configures it', async (t) => {
    const cwd = await tmpDir(t)
    await randomFile(join(cwd, 'a.bin'), 10_000)
    const r = await runBin('p2p', ['split', 'a.bin', '--json'], {
      cwd,
      env: { ...process.env, P2P_CHUNKS_DIR: 'store', P2P_CHUNK_SIZE: '4KiB' },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).chunks, 3)
    await readFile(join(cwd, 'store', 'a.bin', 'manifest.json'))
  })

  it("one p2p.config.json serves every command: another command's settings are taken, a command's section is read over the rest, a typo is refused", async (t) => {
    const cwd = await tmpDir(t)
    await randomFile(join(cwd, 'a.bin'), 10_000)
    // A download's and a server's settings beside the split's own: they stopped every other command before.
    await writeFile(
      join(cwd, 'p2p.config.json'),
      // The server's limit in its own section: p2p-download reads another maxConnections (at most 4096).
      JSON.stringify({
        chunkSize: '64KiB',
        wait: 3,
        uploadSlots: 2,
        split: { chunkSize: '4KiB' },
        serve: { maxConnections: 10_000 },
      }),
    )
    const r = await runBin('p2p', ['split', 'a.bin', '--json'], { cwd })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).chunks, 3)
    const id = await runBin('p2p', ['id'], { cwd })
    assert.equal(id.code, 0, id.stderr)
    await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ uploadSlotz: 2 }))
    const typo = await runBin('p2p', ['id'], { cwd })
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /unknown setting "uploadSlotz" in config file/)
  })

  it('a mistyped name, and p2p secret anywhere, leave nothing in the working directory (an empty chunks/ and logs/ before)', async (t) => {
    const cwd = await tmpDir(t)
    const r = await runBin('p2p-split', ['nope.bin'], { cwd })
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /no such file: nope\.bin \[E_NOT_FOUND\]/)
    const secret = await runBin('p2p', ['secret'], { cwd })
    assert.equal(secret.code, 0, secret.stderr)
    assert.deepEqual(await readdir(cwd), [])
  })

  it('the share link: --with-secret takes --secret-file too; a secret no peer takes, a link too long for p2p-download, or --link-peer not one HOST:PORT, is refused before anything is split (E_USAGE, in its own words)', async (t) => {
    const cwd = await tmpDir(t)
    await randomFile(join(cwd, 'f.bin'), 100_000)
    const made = await runBin('p2p', ['secret'], { cwd })
    await writeFile(join(cwd, 'swarm.secret'), made.stdout, { mode: 0o600 })
    const json = await runBin('p2p-split', ['f.bin', '--secret-file', 'swarm.secret', '--with-secret', '--json'], {
      cwd,
    })
    assert.equal(json.code, 0, json.stderr)
    const { link } = JSON.parse(json.stdout) as { link: string }
    assert.equal(parseShareLink(link).secret, made.stdout.trim(), "the file's secret, in a link p2p-download takes")
    await rm(join(cwd, 'chunks'), { recursive: true })
    const weak = await runBin('p2p-split', ['f.bin', '--secret', 'short123', '--with-secret'], { cwd })
    assert.equal(weak.code, 2, weak.stderr)
    assert.match(weak.stderr, /the swarm passphrase is too weak/)
    // p2p-download takes a link of at most 2,048 characters: 260 CJK characters are 2,340 percent-encoded.
    const long = await runBin('p2p-split', ['f.bin', '--secret', '一二三四五六七八九十'.repeat(26), '--with-secret'], {
      cwd,
    })
    assert.equal(long.code, 2, long.stderr)
    assert.match(long.stderr, /the share link would be \d+ characters, over the 2048 p2p-download takes/)
    for (const hint of ['127.0.0.1', '', 'a,127.0.0.1:5'])
      for (const r of [await runBin('p2p-split', ['f.bin', '--link-peer', hint], { cwd })]) {
        assert.equal(r.code, 2, r.stderr)
        assert.match(r.stderr, /^Error: --link-peer ".*" must be one HOST:PORT or \[IPv6\]:PORT/, hint)
        assert.doesNotMatch(r.stderr, /p2p:\/\/0{64}/, 'no link the user never typed')
      }
    assert.ok(!(await readdir(cwd)).includes('chunks'), 'refused before the store was made')
  })

  const failures: Array<[string, string[], number, RegExp]> = [
    ['a missing file', ['nope.bin'], 3, /E_NOT_FOUND/],
    ['a folder holding the chunk store', ['.'], 2, /inside/],
    ['chunk size 0', ['x', '--chunk-size', '0'], 2, /--chunk-size/],
    ['chunk size past the bound', ['x', '--chunk-size', '65MiB'], 2, /--chunk-size/],
    ['an unknown option', ['x', '--bogus'], 2, /unknown option/],
    ['a missing argument', [], 2, /missing required argument/],
    [
      '--link-peer twice (a link names one peer)',
      ['x', '--link-peer', '127.0.0.1:1', '--link-peer', '10.0.0.1:2'],
      2,
      /names one peer/,
    ],
  ]
  for (const [label, args, code, pattern] of failures) {
    it(`fails on ${label} with exit ${code} and one line, no stack`, async (t) => {
      const cwd = await tmpDir(t)
      const r = await runBin('p2p-split', args, { cwd })
      assert.equal(r.code, code, r.stderr)
      assert.match(r.stderr, pattern)
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    })
  }

  it('a failure at once keeps its log lines; a log file that cannot be opened is one E_IO line', async (t) => {
    const cwd = await tmpDir(t)
    // A /proc file says 0 bytes and reads more: refused once opened, after the log began.
    const r = await runBin('p2p-split', ['/proc/self/status'], { cwd })
    assert.equal(r.code, 6, r.stderr)
    const lines = (await readFile(join(cwd, 'logs', 'split.log'), 'utf8')).trim().split('\n')
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).msg),
      ['start', 'failed'],
    )
    await mkdir(join(cwd, 'blocked', 'split.log'), { recursive: true })
    await writeFile(join(cwd, 'x.bin'), 'x')
    const blocked = await runBin('p2p-split', ['x.bin', '--logs-dir', 'blocked'], { cwd })
    assert.equal(blocked.code, 6, blocked.stderr)
    assert.match(blocked.stderr, /opening the log file .*split\.log.*\[E_IO\]\n$/)
    assert.doesNotMatch(blocked.stderr, /\n\s+at /, 'no stack trace')
  })

  it('fails on an unreadable file with E_IO', async (t) => {
    // Root reads anything: run it as root without the capabilities that override permissions (no other uid, so wherever the checkout is).
    const bind = permissionsBind()
    if ('skip' in bind) return t.skip(`needs permissions that bind: ${bind.skip}`)
    const cwd = await tmpDir(t)
    await writeFile(join(cwd, 'secret.bin'), 'x')
    await chmod(join(cwd, 'secret.bin'), 0o000)
    const r = await runBin(
      'p2p-split',
      ['secret.bin', '--logs-dir', join(cwd, 'logs'), '--chunks-dir', join(cwd, 'chunks')],
      { cwd, wrap: bind.wrap },
    )
    assert.equal(r.code, 6, r.stderr)
    assert.match(r.stderr, /permission denied.*\[E_IO\]/)
  })

  it('--help has examples and exits 0, on every command', async () => {
    for (const name of ['p2p', 'p2p-split', 'p2p-announce', 'p2p-serve', 'p2p-listen', 'p2p-download']) {
      const r = await runBin(name, ['--help'])
      assert.equal(r.code, 0, name)
      assert.match(r.stdout, /Examples:/, name)
    }
  })

  it('two splits of different files of one name into one store at once: one wins, the other is refused (E_LOCKED or E_EXISTS), and every chunk the entry lists is its own', async (t) => {
    const dir = await tmpDir(t)
    for (const side of ['a', 'b']) {
      await mkdir(join(dir, side))
      await randomFile(join(dir, side, 'x.bin'), 3_000_000)
    }
    for (let round = 0; round < 4; round++) {
      const store = join(dir, `store${round}`)
      const runs = await Promise.all(
        ['a', 'b'].map((side) =>
          runBin('p2p-split', [join(dir, side, 'x.bin'), '--chunks-dir', store, '--chunk-size', '64KiB', '--json'], {
            cwd: dir,
          }),
        ),
      )
      const results = runs.map((r) => JSON.parse(r.stdout) as { ok: boolean; code?: string })
      assert.deepEqual(results.map((r) => r.ok).sort(), [false, true], runs.map((r) => r.stdout).join('\n'))
      assert.match(results.find((r) => !r.ok)!.code!, /^E_(LOCKED|EXISTS)$/)
      const manifest = JSON.parse(await readFile(join(store, 'x.bin', 'manifest.json'), 'utf8')) as { chunks: string[] }
      for (const [i, hash] of manifest.chunks.entries()) {
        const chunk = await readFile(join(store, 'x.bin', `${String(i).padStart(6, '0')}.chunk`))
        assert.equal(createHash('sha256').update(chunk).digest('hex'), hash, `chunk ${i}, round ${round}`)
      }
    }
  })

  it('a name whose bytes are not UTF-8: E_BAD_NAME saying so, for a file given by it and for one inside a folder (was: "no such file", and a folder shared without it)', async (t) => {
    const dir = await tmpDir(t)
    await mkdir(join(dir, 'album'))
    await writeFile(join(dir, 'album', 'ok.txt'), 'kept')
    const bad = Buffer.concat([Buffer.from(`${dir}/album/report`), Buffer.from([0xff]), Buffer.from('.txt')])
    await writeFile(bad, 'a report')
    const folder = await runBin('p2p-split', [join(dir, 'album'), '--json'], { cwd: dir })
    assert.equal(folder.code, 2, folder.stdout)
    assert.equal(JSON.parse(folder.stdout).code, 'E_BAD_NAME')
    assert.match(JSON.parse(folder.stdout).message, /valid UTF-8/)
    // The single file by its own bytes, as a shell passes them (a string argument cannot hold them).
    const single = await runBin('p2p-split', ['--json'], {
      cwd: dir,
      wrap: ['sh', '-c', `exec "$0" "$@" "$(printf 'album/report\\377.txt')"`],
    })
    assert.equal(single.code, 2, single.stdout + single.stderr)
    assert.equal(JSON.parse(single.stdout).code, 'E_BAD_NAME')
  })

  it("a folder holding the command's own log directory or config file is refused (E_USAGE): they would be shared", async (t) => {
    const dir = await tmpDir(t)
    const folder = join(dir, 'share')
    await mkdir(folder)
    await writeFile(join(folder, 'notes.txt'), 'mine')
    const store = ['--chunks-dir', join(dir, 'chunks'), '--json']
    const refused = async (extra: string[], what: RegExp): Promise<void> => {
      const r = await runBin('p2p-split', ['.', ...store, ...extra], { cwd: folder })
      assert.equal(JSON.parse(r.stdout).code, 'E_USAGE', r.stdout)
      assert.match(JSON.parse(r.stdout).message, what)
    }
    await refused([], /log directory/) // logs in ./logs by default
    // Refused before anything is made: the run's log, and a store of its own there, are not left in the folder.
    const inStore = ['--chunks-dir', 'chunks', '--logs-dir', join(dir, 'logs'), '--json']
    const r = await runBin('p2p-split', ['.', ...inStore], { cwd: folder })
    assert.match(JSON.parse(r.stdout).message, /chunk store/, r.stdout)
    assert.deepEqual(await readdir(folder), ['notes.txt'])
    const silent = await runBin('p2p-split', ['.', ...store, '--log-level', 'silent'], { cwd: folder })
    assert.equal(silent.code, 0, `silent writes no log there: ${silent.stdout}`)
    assert.equal(JSON.parse(silent.stdout).files, 1)
    await writeFile(join(folder, 'p2p.config.json'), '{}') // read by default from the working directory
    await refused(['--logs-dir', join(dir, 'logs')], /config file/)
    await rm(join(folder, 'p2p.config.json'))
    // An identity the environment names, though p2p-split reads none: p2p-serve would use it, and serve it.
    const env = { ...process.env, P2P_IDENTITY: join(folder, 'peer.key') }
    await writeFile(join(folder, 'peer.key'), 'a key')
    const keyed = await runBin('p2p-split', ['.', ...store, '--logs-dir', join(dir, 'logs')], { cwd: folder, env })
    assert.match(JSON.parse(keyed.stdout).message, /identity file/, keyed.stdout)
    await rm(join(folder, 'peer.key'))
    const outside = await runBin('p2p-split', ['.', ...store, '--logs-dir', join(dir, 'logs'), '--force'], {
      cwd: folder,
    })
    assert.equal(outside.code, 0, outside.stdout)
    assert.equal(JSON.parse(outside.stdout).files, 1)
  })

  it("a private file named as such is refused (E_USAGE), under its name, another name (a hard link) or inside the log directory: 'p2p share *' shared the identity and secret", async (t) => {
    const dir = await tmpDir(t)
    await mkdir(join(dir, 'keys'))
    const key = join(dir, 'keys', 'id.key')
    const made = await runBin('p2p', ['id', '--identity', key, '--logs-dir', join(dir, 'logs')])
    assert.equal(made.code, 0, made.stderr)
    await link(key, join(dir, 'innocent.txt'))
    await writeFile(join(dir, 'p2p.config.json'), '{}')
    const env = { ...process.env, P2P_IDENTITY: key }
    const base = ['--chunks-dir', join(dir, 'chunks'), '--json']
    for (const [file, why] of [
      [key, /identity file/],
      [join(dir, 'innocent.txt'), /identity file/],
      ['p2p.config.json', /config file/],
      [join(dir, 'logs', 'id.log'), /(inside|a file of) the log directory/],
    ] as const) {
      const r = await runBin('p2p-split', [file, ...base], { cwd: dir, env })
      assert.equal(r.code, 2, r.stdout)
      assert.equal(JSON.parse(r.stdout).code, 'E_USAGE')
      assert.match(JSON.parse(r.stdout).message, why)
    }
    // The store's own identity, which serving commands use unless told otherwise (the last attack: shared), and
    // a log file, each through a hard link outside.
    const own = await runBin('p2p', ['id', ...base.slice(0, 2), '--logs-dir', join(dir, 'logs')])
    assert.equal(own.code, 0, own.stderr)
    await link(join(dir, 'chunks', '.p2p', 'identity.key'), join(dir, 'backup.key'))
    await link(join(dir, 'logs', 'id.log'), join(dir, 'old.log'))
    for (const [file, why] of [
      ['backup.key', /identity file/],
      ['old.log', /a file of the log directory/],
    ] as const) {
      const r = await runBin('p2p-split', [file, ...base], { cwd: dir })
      assert.equal(JSON.parse(r.stdout).code, 'E_USAGE', r.stdout)
      assert.match(JSON.parse(r.stdout).message, why)
    }
    // A pipe is no file to look up (the review: its realpath failed, E_INTERNAL): refused as not a regular file.
    const piped = await runBin('p2p-split', base, {
      cwd: dir,
      env,
      wrap: ['sh', '-c', 'echo hi | exec "$0" "$@" /dev/stdin'],
    })
    assert.equal(JSON.parse(piped.stdout).code, 'E_USAGE', piped.stdout)
    await writeFile(join(dir, 'notes.txt'), 'mine')
    const fine = await runBin('p2p-split', ['notes.txt', ...base], { cwd: dir, env })
    assert.equal(fine.code, 0, fine.stdout)
  })
})
