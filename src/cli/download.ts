import { notBuilt } from './common.js'

// Placeholder until the command is built: exits 2 with a clear message.
export const downloadCommand = notBuilt('download', 'download a file from peers, verify and stitch it')
