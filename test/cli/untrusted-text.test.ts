import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { BIN, runBin } from '../helpers/cli.js'
import { fakeAnnouncer, fakeId } from '../helpers/fake-announcer.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { ESCAPE_NAMES, startLiar } from '../helpers/liar.js'
import { BROADCAST, freeUdpPort, runDownload, split, startSeeder, storeArgs } from '../helpers/swarm.js'

/**
 * FAULTS.md case 41 and the name rule (issue 14, findings 6 and 13): text from
 * the network or from file names never reaches a terminal raw; names that are
 * dangerous somewhere are refused at split and on receipt; unportable ones
 * download under a portable local name.
 */

/** Bytes a terminal would act on: C0 but newline, DEL, C1, bidi controls, zero-width space. */
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200b]/

/** Human-mode download arguments (no --json): what a person at a terminal sees. */
const humanArgs = (dir: string, udp: number): string[] => [
  '--udp-port',
  String(udp),
  '--broadcast',
  BROADCAST,
  '--downloads-dir',
  join(dir, 'downloads'),
  '--dictionary',
  join(dir, 'dictionary.json'),
  ...storeArgs(dir),
]

async function escapeLiar(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const sha = await randomFile(join(dir, 'f.bin'), 300_000)
  const { id } = await split(join(dir, 's0'), join(dir, 'f.bin'), ['--chunk-size', '64KiB'])
  await startLiar(t, { udpPort: udp, storeDir: join(dir, 's0'), name: 'f.bin', id, mode: 'escape' })
  return { dir, udp, sha, id }
}

/** p2p-listen's plain output (not a terminal) until it lists 2 files; then stopped (SIGTERM). */
async function listenUntilTwoFiles(t: Cleanup, udp: number, dictionary: string, logsDir: string): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      BIN('p2p-listen'),
      '--udp-port',
      String(udp),
      '--broadcast',
      BROADCAST,
      '--ipv6',
      'off',
      '--dictionary',
      dictionary,
      '--logs-dir',
      logsDir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  onCleanup(t, () => {
    child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout.setEncoding('utf8')
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: string) => {
      stdout += d
      if (/2 files/.test(stdout)) resolve()
    }),
  )
  child.kill('SIGTERM')
  await once(child, 'close')
  return stdout
}

describe('untrusted text never reaches a terminal raw (FAULTS.md case 41)', () => {
  it('a peer whose error frames are escape sequences (erase line, fake "Downloaded:", OSC 52, U+202E): shown escaped on stderr and in --json', async (t) => {
    const { dir, udp } = await escapeLiar(t)
    const human = await runBin('p2p-download', ['f.bin', '--wait', '1.5', ...humanArgs(join(dir, 'd'), udp)])
    assert.equal(human.code, 3, human.stderr)
    assert.ok(!RAW.test(human.stderr) && !RAW.test(human.stdout), JSON.stringify(human.stderr))
    assert.match(human.stderr, /\\x1b\[2K\\r\\x1b\[32mDownloaded:/, 'the message is there, visibly escaped')
    const json = await runDownload(join(dir, 'd'), udp, ['f.bin', '--wait', '1.5'])
    assert.equal(json.code, 3)
    const message = (json.result as { message: string }).message
    assert.ok(!RAW.test(message), 'a later `jq -r .message` prints nothing a terminal acts on')
    assert.match(message, /\\x1b\]52;c;/)
  })

  it('beside an honest seeder the download completes; its human receipt holds no raw escape', async (t) => {
    const { dir, udp, sha } = await escapeLiar(t)
    await startSeeder(t, join(dir, 's0'), udp)
    const r = await runBin('p2p-download', ['f.bin', ...humanArgs(join(dir, 'd'), udp)], { timeoutMs: 120_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'f.bin')), sha)
    assert.ok(!RAW.test(r.stdout) && !RAW.test(r.stderr), JSON.stringify(r.stdout + r.stderr))
  })

  it('announced names with escapes, bidi controls, only invisible characters or ".P2P" are dropped; p2p-listen shows the rest escaped', async (t) => {
    const { dir, udp } = await escapeLiar(t)
    const dictionary = join(dir, 'dict.json')
    const stdout = await listenUntilTwoFiles(t, udp, dictionary, join(dir, 'logs'))
    assert.ok(!RAW.test(stdout), JSON.stringify(stdout))
    assert.match(stdout, /zero\\u200bwidth\.bin/)
    assert.ok(!/title|fdp|P2P/.test(stdout))
    const names = Object.values(
      (JSON.parse(await readFile(dictionary, 'utf8')) as { files: Record<string, { name: string }> }).files,
    )
      .map((f) => f.name)
      .sort()
    assert.deepEqual(names, ['f.bin', ESCAPE_NAMES.at(-1)])
  })
})

describe('look-alike names (attacker pass, fifty-fifth session)', () => {
  it("p2p-listen marks a name whose word mixes Latin and Cyrillic letters (it prints as another's), not the honest one", async (t) => {
    const udp = await freeUdpPort()
    const dir = await tmpDir(t)
    const stranger = await fakeAnnouncer(t, udp)
    const files = [
      { id: fakeId(1), name: 'report.pdf', size: 1000 },
      { id: fakeId(2), name: 'r\u0435\u0440\u043ert.pdf', size: 1000 },
    ]
    const timer = setInterval(() => void stranger.announce('1ia71ia71ia71ia7', 7999, files).catch(() => undefined), 200)
    onCleanup(t, () => clearInterval(timer))
    const stdout = await listenUntilTwoFiles(t, udp, join(dir, 'd.json'), join(dir, 'logs'))
    assert.match(
      stdout,
      /r\u0435\u0440\u043ert\.pdf \(1 peer; letters of two scripts in one word: a look-alike name\?\)/,
    )
    assert.match(stdout, /report\.pdf \(1 peer\)/)
  })
})

describe('the name rule at split and on download (issue 14, finding 13)', () => {
  it('p2p-split refuses names dangerous somewhere (escapes, U+202E, invisible-only, .P2P) with an escaped message', async (t) => {
    const dir = await tmpDir(t)
    for (const name of ['esc\u001b]0;x\u0007.bin', 'report\u202efdp.exe', '\u200b\u200b', '.P2P']) {
      await writeFile(join(dir, name), 'x')
      const r = await runBin('p2p-split', [join(dir, name), ...storeArgs(join(dir, 's'))])
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /E_BAD_NAME/)
      assert.ok(!RAW.test(r.stderr), JSON.stringify(r.stderr))
    }
  })

  it('unportable names (a:b, CON, nul.txt, "name. ") split as they are and download under a portable local name', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const files = [
      ['a:b', 'a_b'],
      ['CON', 'CON_'],
      ['nul.txt', 'nul_.txt'],
      ['name. ', 'name._'],
    ] as const
    const shas = new Map<string, string>()
    for (const [name] of files) {
      shas.set(name, await randomFile(join(dir, name), 70_000))
      const r = await runBin('p2p-split', [join(dir, name), ...storeArgs(join(dir, 's0'))])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /not a portable name/)
    }
    await startSeeder(t, join(dir, 's0'), udp)
    for (const [name, local] of files) {
      const r = await runDownload(join(dir, 'd'), udp, [name])
      assert.equal(r.code, 0, r.log)
      const result = r.result as { name: string; path: string }
      assert.equal(result.name, name, 'the manifest name is kept')
      assert.equal(result.path, join(dir, 'd', 'downloads', local))
      assert.equal(await sha256File(result.path), shas.get(name))
    }
  })
})
