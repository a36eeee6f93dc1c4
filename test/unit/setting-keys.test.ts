import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFINED_SETTINGS } from '../../src/cli/common.js'
import { COMMANDS } from '../../src/cli/main.js'
import { COMMAND_FILE_KEYS, CONFIG_SECTIONS } from '../../src/cli/setting-keys.js'
import { camelKey } from '../../src/core/config.js'
import { SETTINGS } from '../../src/core/settings.js'

/** The config file's keys some commands only read (setting-keys.ts) are exactly what the commands declare. */

describe('the config file keys of every command', () => {
  it('every setting of every command is a core setting or in COMMAND_FILE_KEYS, and every one listed is some command’s', async () => {
    // By the config file's key: a command's own setting may share a core flag's name under a key of its own.
    const core = new Set(Object.values(SETTINGS).map((spec) => spec.fileKey ?? camelKey(spec.flag)))
    for (const load of Object.values(COMMANDS)) await load() // each command's module defines it
    assert.deepEqual([...DEFINED_SETTINGS.keys()].sort(), Object.keys(COMMANDS).sort(), 'every command defined')
    const declared = new Set<string>()
    for (const settings of DEFINED_SETTINGS.values())
      for (const spec of Object.values(settings))
        if (!core.has(spec.fileKey ?? camelKey(spec.flag))) declared.add(spec.fileKey ?? camelKey(spec.flag))
    assert.deepEqual([...declared].sort(), [...COMMAND_FILE_KEYS].sort())
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
