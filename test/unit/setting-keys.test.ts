import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { COMMANDS } from '../../src/cli/main.js'
import { COMMAND_FILE_KEYS, CONFIG_SECTIONS } from '../../src/cli/setting-keys.js'
import { camelKey } from '../../src/core/config.js'
import { SETTINGS } from '../../src/core/settings.js'

/** The config file's keys some commands only read (setting-keys.ts) are exactly what the commands declare. */

describe('the config file keys of every command', () => {
  it('every setting of every command is a core setting or in COMMAND_FILE_KEYS, and every one listed is some command’s', async () => {
    const core = new Map(Object.values(SETTINGS).map((s) => [s.flag, s.fileKey ?? camelKey(s.flag)]))
    const declared = new Set<string>()
    for (const load of Object.values(COMMANDS)) {
      const command = (await load())()
      // A setting's help names its environment variable; --json, --force and the like do not (--config names the file).
      for (const option of command.options)
        if (option.long && option.long !== '--config' && / env P2P_[A-Z_]+\)$/.test(option.description)) {
          const flag = option.long.slice(2)
          if (!core.has(flag)) declared.add(camelKey(flag))
        }
    }
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
