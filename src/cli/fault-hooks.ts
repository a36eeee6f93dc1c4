/**
 * The crash-before-rename fault test (FAULTS.md case 7, test/cli/faults) kills
 * the process between the verified `.part` and its final name. Read here, in
 * the command, never in the library: the library takes a callback.
 */
export function killBeforeRename(): (() => void) | undefined {
  if (process.env.P2P_TEST_HOOK !== 'kill-before-rename') return undefined
  return () => {
    process.kill(process.pid, 'SIGKILL')
  }
}
