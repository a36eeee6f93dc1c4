import { closeSync, constants, openSync, write, writeSync } from 'node:fs'

/**
 * The most one buffered write hands the kernel. On this project's test
 * machine (a VM, Linux 6.18, ext4) writes into new page-cache pages cost up
 * to 8 × as much in large pieces as in small ones, and where "large" begins
 * moved with the machine's memory: 1 GiB into 1,024 new files took 4.6 s in
 * 1 MiB writes and 0.5 s in 512 KiB ones in one quarter hour, 3.9–4.1 s in
 * 256 KiB writes and 0.5–0.7 s in 64 KiB ones in the next; 64 KiB or less
 * was fast every time (docs/benchmarks.md, "Buffered writes of at most 64
 * KiB"). Elsewhere a few more system calls per MiB cost microseconds. A
 * write past the page cache (O_DIRECT: direct-io.ts) takes no page-cache
 * memory and is not cut.
 */
export const BUFFERED_WRITE_BYTES = 64 * 1024

/** `data` written whole at `position` of the open file `fd`, synchronously, in writes of at most `maxWrite`. */
export function writeFullySync(fd: number, data: Uint8Array, position: number, maxWrite = BUFFERED_WRITE_BYTES): void {
  for (let done = 0; done < data.byteLength; )
    done += writeSync(fd, data, done, Math.min(maxWrite, data.byteLength - done), position + done)
}

/** The same through libuv's pool (a write that waits for the disk holds no thread of ours); rejects with the fs error. */
export async function writeFully(
  fd: number,
  data: Uint8Array,
  position: number,
  maxWrite = BUFFERED_WRITE_BYTES,
): Promise<void> {
  for (let done = 0; done < data.byteLength; )
    done += await new Promise<number>((resolve, reject) =>
      write(fd, data, done, Math.min(maxWrite, data.byteLength - done), position + done, (err, n) =>
        err ? reject(err) : resolve(n),
      ),
    )
}

/** How a file is created new: never over one already there (EEXIST), never through a link at its name. */
export const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** `data` as the new file `path` (CREATE_NEW), synchronously; a write that fails leaves the partial file. */
export function writeNewFileSync(path: string, data: Uint8Array): void {
  const fd = openSync(path, CREATE_NEW)
  try {
    writeFullySync(fd, data, 0)
  } finally {
    closeSync(fd)
  }
}
