import { write, writeSync } from 'node:fs'

/**
 * The most one buffered write hands the kernel. On this project's test
 * machine (a VM, Linux 6.18, ext4), 1 GiB written into 1,024 new files took
 * 4.6–4.8 s in writes of 1 MiB and 0.47–0.61 s in writes of 512 KiB or
 * less, nearly all of the difference in the kernel's copy into the page
 * cache (docs/benchmarks.md, "Writes of at most 256 KiB"); elsewhere a few
 * more system calls per MiB cost microseconds. A write past the page cache
 * (O_DIRECT: direct-io.ts) takes no page-cache memory and is not cut.
 */
export const BUFFERED_WRITE_BYTES = 256 * 1024

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
