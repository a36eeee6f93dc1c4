/**
 * What a setting is: its flag, the value it takes, its default, how a raw
 * value becomes that value (setting-parsers.ts), and where else it may come
 * from (environment, config file). The shared settings (settings.ts) and each
 * command's own are written as these; config.ts resolves any set of them.
 */

export interface SettingSpec<T> {
  /** The flag without dashes, e.g. "chunks-dir". */
  readonly flag: string
  readonly valueName: string
  readonly description: string
  readonly defaultValue: T
  /** Shown in --help; defaults to the default value. */
  readonly defaultLabel?: string
  /** Turns a raw value (string from flag/env, or JSON value from the file) into T; throws a message on error. */
  readonly parse: (raw: unknown, base: string) => T
  /** The environment variable, when not the one envName() derives (--peer reads P2P_PEERS). */
  readonly env?: string
  /** The config-file key, when not the flag in camelCase (--peer: "peers"). */
  readonly fileKey?: string
  /** The flag may be given several times; the values arrive as a list. */
  readonly repeatable?: boolean
  /**
   * The other way of giving the same thing (--secret and --secret-file, --allow and --allow-file): of the two, the
   * one from the higher source (a flag, then the environment, then the config file) is read alone, as one setting
   * given twice would be; from one source, both are (the command decides).
   */
  readonly sameAs?: string
}

export type SettingSpecs = Record<string, SettingSpec<unknown>>
export type Settings<S extends SettingSpecs> = {
  -readonly [K in keyof S]: S[K] extends SettingSpec<infer T> ? T : never
}
