import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFINED_SETTINGS } from '../../src/cli/common.js'
import { COMMANDS } from '../../src/cli/main.js'
import { COMMAND_FILE_KEYS, CONFIG_SECTIONS, OWN_FILE_KEYS, SECTION_KEYS } from '../../src/cli/setting-keys.js'
import { camelKey } from '../../src/core/config.js'
import { SETTINGS } from '../../src/core/settings.js'

/** The config file's keys some commands only read (setting-keys.ts) are exactly what the commands declare. */

describe('the config file keys of every command', () => {
  it('every setting of every command is a core setting or in its OWN_FILE_KEYS, and every one listed is its own', async () => {
    // By the config file's key: a command's own setting may share a core flag's name under a key of its own.
    const core = new Set(Object.values(SETTINGS).map((spec) => spec.fileKey ?? camelKey(spec.flag)))
    for (const load of Object.values(COMMANDS)) await load() // each command's module defines it
    assert.deepEqual([...DEFINED_SETTINGS.keys()].sort(), Object.keys(COMMANDS).sort(), 'every command defined')
    assert.deepEqual(Object.keys(OWN_FILE_KEYS).sort(), Object.keys(COMMANDS).sort(), 'every command listed')
    for (const [command, settings] of DEFINED_SETTINGS) {
      const declared = Object.values(settings)
        .map((spec) => spec.fileKey ?? camelKey(spec.flag))
        .filter((key) => !core.has(key))
      assert.deepEqual([...OWN_FILE_KEYS[command]!].sort(), declared.sort(), command)
    }
    assert.deepEqual([...COMMAND_FILE_KEYS].sort(), [...new Set(Object.values(OWN_FILE_KEYS).flat())].sort())
  })

  it('a section\'s keys are those of the commands that read it (a UX audit: "get": {"id": …} was taken)', () => {
    assert.deepEqual([...SECTION_KEYS.keys()].sort(), [...CONFIG_SECTIONS].sort())
    assert.ok(!SECTION_KEYS.get('get')!.has('id'), "p2p-listen's key")
    assert.ok(SECTION_KEYS.get('get')!.has('wait') && SECTION_KEYS.get('download')!.has('wait'))
    // p2p share reads split's, serve's and announce's sections: announce's own key is p2p-announce's.
    assert.ok(SECTION_KEYS.get('serve')!.has('maxInFlight') && SECTION_KEYS.get('announce')!.has('minBurstGap'))
    assert.ok(!SECTION_KEYS.get('serve')!.has('wait') && !SECTION_KEYS.get('split')!.has('wait'))
    assert.ok(SECTION_KEYS.get('split')!.has('maxInFlight'), 'p2p share reads it there')
  })

  it('every command but id and secret (no settings of their own; "id" is a key) has a config file section', () => {
    assert.deepEqual(
      [...CONFIG_SECTIONS].sort(),
      Object.keys(COMMANDS)
        .filter((name) => name !== 'id' && name !== 'secret')
        .sort(),
    )
  })
})
