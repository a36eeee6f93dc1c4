// The folder case of `npm run bench` (issue 18): a tree of many small files
// (default 10,000 of 1–64 KiB in 100 directories) against one file of the
// same total size, each split by one seeder and downloaded over loopback
// (broadcast 127.255.255.255, free ports). Small files must not be slow:
// the target is a byte rate of at least 0.5 × the single file's. Every
// download is checked: the folder file by file (paths, sizes, modes,
// SHA-256), the file by its SHA-256.
import { createHash, randomBytes } from 'node:crypto'
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  downloadArgs,
  freeUdpPort,
  freshDir,
  markTopDir,
  median,
  removeOld,
  sampleFile,
  settleDeletes,
  sha256,
  startSeed,
  timed,
} from './lib.mjs'

const node = process.execPath

/** A deterministic spread of sizes in [1 KiB, 64 KiB] (a linear congruential walk; the same every run). */
function sizes(count) {
  let x = 12345
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return 1024 + (x % (63 * 1024 + 1))
  })
}

/** The folder, made once and reused while it has the expected file count. */
function makeFolder(root, count) {
  const marker = join(root, '..', `.folder-${count}-done`)
  try {
    if (lstatSync(marker).isFile()) return JSON.parse(readFileSync(marker, 'utf8')).bytes
  } catch {
    /* make it */
  }
  rmSync(root, { recursive: true, force: true })
  let bytes = 0
  const perDir = Math.ceil(count / 100)
  sizes(count).forEach((size, i) => {
    const dir = join(root, `dir ${String(Math.floor(i / perDir)).padStart(3, '0')}`)
    if (i % perDir === 0) mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `photo-${String(i).padStart(5, '0')}.jpg`), randomBytes(size))
    bytes += size
  })
  writeFileSync(marker, JSON.stringify({ bytes }))
  return bytes
}

/** Paths, sizes, modes and SHA-256 of everything under `root`, sorted. */
function listing(root) {
  return readdirSync(root, { recursive: true })
    .sort()
    .map((rel) => {
      const st = lstatSync(join(root, rel))
      if (st.isDirectory()) return `${rel}/`
      return `${rel} ${st.size} ${(st.mode & 0o777).toString(8)} ${createHash('sha256')
        .update(readFileSync(join(root, rel)))
        .digest('hex')}`
    })
}

async function seeder(work, path) {
  const udpPort = await freeUdpPort()
  const dir = freshDir(work, 'folder-seed')
  const { serve, announce, splitSeconds } = await startSeed(dir, path, udpPort)
  return {
    udpPort,
    splitSeconds,
    stop: async () => {
      await serve.stop()
      await announce.stop()
    },
  }
}

async function downloadOnce(work, name, udpPort) {
  const dir = freshDir(work, 'folder-downloader')
  await settleDeletes()
  const r = await timed(node, downloadArgs(dir, name, udpPort), { stdout: 'pipe' })
  return { ...r, path: join(dir, 'downloads', name) }
}

/** Median seconds of `runs` downloads of the folder and of the same bytes as one file; their ratio of byte rates. */
export async function folderBench({ work, files = 10_000, runs = 1, progress = () => undefined }) {
  const root = join(work, 'folder-src', 'album')
  markTopDir(work)
  progress(`folder: making ${files} files`)
  const bytes = makeFolder(root, files)
  const expected = listing(root)
  const single = join(work, `folder-single-${bytes}.bin`)
  await sampleFile(single, bytes)
  const singleSha = await sha256(single)
  const tree = []
  const file = []
  const copyTree = []
  const copyFile = []
  const split = []
  for (let run = 1; run <= runs; run++) {
    // The machine's own price for many files: the same bytes copied as the tree and as one file, made durable.
    progress(`folder: run ${run}/${runs}: cp -r and cp (the floor)`)
    copyTree.push(await durableCopy(work, ['-r', root]))
    copyFile.push(await durableCopy(work, [single]))
    progress(`folder: run ${run}/${runs}: ${files} files`)
    let s = await seeder(work, root)
    split.push(s.splitSeconds)
    const d = await downloadOnce(work, 'album', s.udpPort)
    await s.stop()
    const got = listing(d.path)
    if (got.length !== expected.length || got.some((line, i) => line !== expected[i]))
      throw new Error(`folder download differs from the source (${got.length} vs ${expected.length} entries)`)
    tree.push(d.seconds)
    progress(`folder: run ${run}/${runs}: one file of the same size`)
    s = await seeder(work, single)
    const f = await downloadOnce(work, `folder-single-${bytes}.bin`, s.udpPort)
    await s.stop()
    if ((await sha256(f.path)) !== singleSha) throw new Error('single-file download differs from the source')
    file.push(f.seconds)
  }
  for (const prefix of ['folder-seed', 'folder-downloader', 'folder-copy']) removeOld(work, prefix)
  const treeSeconds = median(tree)
  const fileSeconds = median(file)
  // A tree download cannot beat the file download plus what the tree's extra files cost the machine itself.
  const extra = Math.max(0, median(copyTree) - median(copyFile))
  return {
    ...{ files, bytes, runs, tree, file, treeSeconds, fileSeconds, ratio: fileSeconds / treeSeconds },
    ...{ copyTree, copyFile, floorRatio: fileSeconds / (fileSeconds + extra) },
    ...{ split, splitSeconds: median(split) },
  }
}

/** The folder section of bench/results/latest.md. */
export function folderMarkdown(folder) {
  return (
    `Folder: ${folder.files} files, ${(folder.bytes / 1e6).toFixed(0)} MB: ${folder.treeSeconds.toFixed(2)} s ` +
    `(${(folder.bytes / folder.treeSeconds / 1e6).toFixed(0)} MB/s) vs one file ${folder.fileSeconds.toFixed(2)} s ` +
    `(${(folder.bytes / folder.fileSeconds / 1e6).toFixed(0)} MB/s): ratio ${folder.ratio.toFixed(2)} (target ≥ 0.5). ` +
    `The machine's floor: cp -r + sync of the tree ${median(folder.copyTree).toFixed(2)} s vs cp + sync of the file ${median(folder.copyFile).toFixed(2)} s, ` +
    `so at best ${folder.floorRatio.toFixed(2)} (the file download plus what the extra files cost cp). ` +
    `p2p-split of the folder (the seeder's): ${folder.splitSeconds.toFixed(2)} s.`
  )
}

/** Seconds for `cp ARGS… copy` and `sync -f copy` (syncfs: the copy's data and metadata on disk). */
async function durableCopy(work, args) {
  const target = freshDir(work, 'folder-copy')
  await settleDeletes()
  const started = performance.now()
  await timed('cp', [...args, target])
  await timed('sync', ['-f', target])
  const seconds = (performance.now() - started) / 1000
  rmSync(target, { recursive: true, force: true })
  return seconds
}
