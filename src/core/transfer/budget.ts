/**
 * A shared allowance of bytes (chunk data read from disk but not yet handed
 * to the kernel), so a server's memory stays flat however many clients
 * pipeline however many requests. A request larger than the whole budget is
 * let through alone rather than never.
 */
export class ByteBudget {
  private used = 0
  private readonly waiters: Array<{ bytes: number; resolve: () => void }> = []

  constructor(readonly max: number) {}

  get inUse(): number {
    return this.used
  }

  acquire(bytes: number): Promise<void> {
    if (this.fits(bytes) && this.waiters.length === 0) {
      this.used += bytes
      return Promise.resolve()
    }
    return new Promise((resolve) => this.waiters.push({ bytes, resolve }))
  }

  release(bytes: number): void {
    this.used -= bytes
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const next = this.waiters.shift()!
      this.used += next.bytes
      next.resolve()
    }
  }

  private fits(bytes: number): boolean {
    return this.used + bytes <= this.max || this.used === 0
  }
}
