import { defineCommand } from './common.js'
import { runDownloadCommand } from './download.js'
import { DOWNLOAD_SETTINGS, downloadOptions } from './download-settings.js'

/**
 * `p2p get NAME|ID`: p2p-download under the short name that pairs with
 * `p2p share`, taking a file id (64 lowercase hex characters, as `p2p share`
 * prints it) in place of a name. Built, like p2p-download, on the public API
 * only (src/index.ts).
 */
export const getCommand = defineCommand({
  name: 'get',
  summary:
    'download a file or folder by name, id or link from the peers that share it, verified to the byte (p2p-download)',
  arguments: '[name|id|link]',
  settings: DOWNLOAD_SETTINGS,
  examples: [
    'p2p get holiday.mp4',
    'p2p get 3f9a…e1            # the id p2p share printed',
    'p2p get                    # on a terminal: pick from the files the LAN offers',
    'p2p get notes.pdf --json | jq .sha256',
  ],
  configure: downloadOptions,
  run: (ctx) => runDownloadCommand(ctx, { idArgument: true }),
})
