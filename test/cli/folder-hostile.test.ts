import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tmpDir } from '../helpers/files.js'
import { startManifestPeer } from '../helpers/manifest-peer.js'
import { freeUdpPort, runDownload } from '../helpers/swarm.js'

// The lying peer speaks the plain protocol (as tools that speak it do); the manifest checks under test are the same
// whichever transport carried the bytes.
const PLAIN = ['--transport', 'plain']

const HELLO = createHash('sha256').update('hello').digest('hex')

const file = (path: string) => ({ path, size: 5, chunks: [HELLO], sha256: HELLO })
const dir = (path: string) => ({ path, type: 'dir' })

/** Canonical version-2 bytes with these entries (a lying peer's: its id is their hash, only the content lies). */
function folderBytes(entries: unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ version: 2, name: 'evil', chunkSize: 16384, entries }))
}

const HOSTILE: Array<[string, unknown[]]> = [
  ['../x', [file('../x')]],
  ['/etc/x', [file('/etc/x')]],
  ['a/../../x', [dir('a'), file('a/../../x')]],
  ['C:\\x', [file('C:\\x')]],
  ['a\\..\\x', [file('a\\..\\x')]],
  ['É in NFD and NFC', [file('E\u0301'), file('\u00c9')]],
  ['A and a', [file('A'), file('a')]],
  ['a file that is also a directory', [file('a'), file('a/b')]],
  ['a parent that is not listed', [file('a/b')]],
]

/** What a downloader's directory holds after a refusal: its store's private files only, no entry, no download. */
async function written(root: string): Promise<string[]> {
  const out: string[] = []
  for (const rel of await readdir(root, { recursive: true }).catch(() => [] as string[]))
    if (!rel.startsWith('logs') && !rel.startsWith(join('chunks', '.p2p')) && rel !== 'dictionary.json') out.push(rel)
  return out.filter((rel) => rel !== 'chunks' && rel !== 'downloads').sort()
}

describe('hostile folder manifests from a peer whose id matches (real processes)', () => {
  it('refuses every bad path and collision with E_BAD_MANIFEST, writing nothing; a canary outside stays', async (t) => {
    const base = await tmpDir(t)
    const canary = join(base, 'x')
    await writeFile(canary, 'canary')
    for (const [what, entries] of HOSTILE) {
      const udp = await freeUdpPort()
      const peer = await startManifestPeer(t, {
        udpPort: udp,
        bytes: folderBytes(entries),
        name: 'evil',
        size: 5,
        chunks: 1,
        chunkBytes: new Map([[0, Buffer.from('hello')]]),
      })
      const d = join(base, `d-${HOSTILE.findIndex(([w]) => w === what)}`)
      const r = await runDownload(join(d, 'sub'), udp, [...PLAIN, '--id', peer.id, '--wait', '3'])
      assert.equal(r.code, 5, `${what}: ${r.stderr}`)
      assert.equal((r.result as { code?: string }).code, 'E_BAD_MANIFEST', what)
      assert.ok(peer.manifestRequests() > 0, `${what}: the manifest was asked for`)
      assert.deepEqual(await written(join(d, 'sub')), [], `${what}: nothing written`)
      assert.deepEqual(await readdir(d), ['sub'], `${what}: nothing beside downloads/`)
    }
    assert.equal(await readFile(canary, 'utf8'), 'canary')
  })

  it('a bad manifest from several peers ends the download at once: its id is bad, no peer can send another (each copy was fetched and parsed again until --wait)', async (t) => {
    const base = await tmpDir(t)
    const udp = await freeUdpPort()
    const o = { udpPort: udp, bytes: folderBytes([file('../x')]), name: 'evil', size: 5, chunks: 1 }
    const peers = [await startManifestPeer(t, o), await startManifestPeer(t, o), await startManifestPeer(t, o)]
    const r = await runDownload(join(base, 'd'), udp, [...PLAIN, '--id', peers[0]!.id, '--wait', '60'])
    assert.equal(r.code, 5, r.stderr)
    const result = r.result as { code?: string; message?: string }
    assert.equal(result.code, 'E_BAD_MANIFEST')
    assert.match(result.message ?? '', /no peer can send another/)
    assert.deepEqual(await written(join(base, 'd')), [])
  })

  /** A download of a folder of `count` directories (over the 100,000 cap: refused once it has come). */
  async function tooManyEntries(t: Parameters<typeof tmpDir>[0], count: number, wait: string, holdTailMs?: number) {
    const base = await tmpDir(t)
    const udp = await freeUdpPort()
    const entries = Array.from({ length: count }, (_, i) => dir(`d${String(i).padStart(6, '0')}`))
    const peer = await startManifestPeer(t, {
      ...{ udpPort: udp, bytes: folderBytes(entries), name: 'evil', size: 5, chunks: 1 },
      ...(holdTailMs === undefined ? {} : { holdTailMs }),
    })
    const r = await runDownload(join(base, 'd'), udp, [...PLAIN, '--id', peer.id, '--wait', wait])
    assert.equal(r.code, 5, r.stderr)
    assert.equal((r.result as { code?: string }).code, 'E_BAD_MANIFEST')
    assert.deepEqual(await written(join(base, 'd')), [])
  }

  it('refuses a manifest of 10^6 entries (over the 100,000 cap) without building it', async (t) => {
    await tooManyEntries(t, 1_000_000, '3')
  })

  it('waits past --wait for a manifest that is still arriving (a large manifest is not "not found")', async (t) => {
    // 150,000 entries (~4.5 MB): all but the last 64 KiB at once, the rest 1.5 s later, after --wait (1 s) has
    // ended. Cut off at --wait it would be E_NOT_FOUND.
    await tooManyEntries(t, 150_000, '1', 1500)
  })

  it('a file whose whole hash disagrees with its (matching) chunks: E_CHECKSUM, the temporary tree removed, nothing placed', async (t) => {
    const first = Buffer.alloc(16384, 1)
    const second = Buffer.from('tail!')
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
    // Two chunks: the whole file is hashed as it is copied. One chunk: the manifest is refused before anything
    // is fetched (a one-chunk file's hash must be its chunk's), which is why the tree writer does not hash it again.
    for (const [chunks, code] of [
      [[first, second], 'E_CHECKSUM'],
      [[second], 'E_BAD_MANIFEST'],
    ] as const) {
      const base = await tmpDir(t)
      const udp = await freeUdpPort()
      const size = chunks.reduce((sum: number, c) => sum + c.length, 0)
      const entries = [{ path: 'big.bin', size, chunks: chunks.map(sha), sha256: HELLO }]
      const peer = await startManifestPeer(t, {
        ...{ udpPort: udp, bytes: folderBytes(entries), name: 'evil', size, chunks: chunks.length },
        chunkBytes: new Map(chunks.map((c, i) => [i, c])),
      })
      const r = await runDownload(join(base, 'd'), udp, [...PLAIN, '--id', peer.id, '--wait', '5'])
      assert.equal(r.code, 5, `${chunks.length} chunks: ${r.stderr}`)
      assert.equal((r.result as { code?: string }).code, code)
      assert.deepEqual(await readdir(join(base, 'd', 'downloads')).catch(() => []), [], 'no tree, temporary or final')
    }
  })
})
