import assert from 'node:assert/strict'
import { test } from 'node:test'
import { counted, filesAndFolders, shellWord, someOf } from '../../src/cli/format.js'

test('a count says its noun in the singular for one only (a usability pass found "1 bytes", "1 chunks", "1 peers")', () => {
  assert.equal(counted(1, 'chunk'), '1 chunk')
  assert.equal(counted(0, 'chunk'), '0 chunks')
  assert.equal(counted(2, 'directory', 'directories'), '2 directories')
  assert.equal(counted(1, 'directory', 'directories'), '1 directory')
})

test('someOf names the first few, then how many more (or that more came past what was kept)', () => {
  assert.equal(someOf(['a']), 'a')
  assert.equal(someOf(['a', 'b', 'c']), 'a, b, c')
  assert.equal(someOf(['a', 'b', 'c', 'd', 'e']), 'a, b, c and 2 more')
  assert.equal(someOf(['a', 'b', 'c', 'd'], 3, true), 'a, b, c and at least 2 more')
  assert.equal(someOf(['a', 'b'], 3, true), 'a, b and more')
})

test('shellWord: a name as one word of a command line a user can paste', () => {
  assert.equal(shellWord('film.mkv'), 'film.mkv')
  assert.equal(shellWord('My Album'), "'My Album'")
  assert.equal(shellWord("it's here"), "'it'\\''s here'")
  assert.equal(shellWord('$(rm -rf ~)'), "'$(rm -rf ~)'")
})

test('filesAndFolders: a folder shared is not "1 file" (a UX audit: `p2p share DIR` said "Sharing 1 file")', () => {
  assert.equal(filesAndFolders(1, 0), '1 file')
  assert.equal(filesAndFolders(0, 1), '1 folder')
  assert.equal(filesAndFolders(2, 1), '2 files and 1 folder')
  assert.equal(filesAndFolders(0, 0), '0 files')
})
