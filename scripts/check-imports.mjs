#!/usr/bin/env node
// The import rules of src/ (docs/architecture.md), checked on the sources:
//   - no import cycles (type-only imports count: a cycle of types is a cycle of ideas);
//   - imports point down the layers: src/core/*.ts (shared: errors, store, disk, …) <
//     src/core/transfer/ and src/core/discovery/ (roles, which do not import each other) <
//     src/core/download/ < src/index.ts (the public API) < src/cli/;
//   - the core has no terminal output: no chalk, cli-progress, @inquirer/prompts or commander;
//   - the commands are built on the public API: no module of src/cli/ but the command frame
//     (COMMAND_FRAME below: settings, logs, exit codes) imports from src/core; the library
//     comes from src/index.ts, the frame from src/cli/.
// Prints one line per violation and exits 1, or one summary line and exits 0.
//   node scripts/check-imports.mjs [--root DIR]     (DIR holds src/; default: this repository)
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** The command frame (settings, logs, exit codes): the one module of src/cli/ that reads the core directly. */
const COMMAND_FRAME = 'src/cli/common.ts'
/** Every other module of src/cli/ is built on the public API: the library from src/index.ts, the frame from src/cli/. */
const builtOnApi = (file) => file.startsWith('src/cli/') && file !== COMMAND_FRAME
const TERMINAL_PACKAGES = ['chalk', 'cli-progress', '@inquirer/prompts', 'commander']

const rootArg = process.argv.indexOf('--root')
const root = resolve(rootArg > 0 ? process.argv[rootArg + 1] : join(dirname(fileURLToPath(import.meta.url)), '..'))

/** Every .ts file under `dir`, as paths relative to the root with forward slashes. */
function sources(dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sources(path))
    else if (/\.[cm]?ts$/.test(entry.name) && !/\.d\.[cm]?ts$/.test(entry.name))
      out.push(relative(root, path).split(sep).join('/'))
  }
  return out
}

/** `scanImports(file)`, once per file: the check asks, then the summary line's count. */
const scanned = new Map()
function importsOf(file) {
  if (!scanned.has(file)) scanned.set(file, scanImports(file))
  return scanned.get(file)
}

/**
 * What `file` imports, by TypeScript's own scanner (`preProcessFile`): `import … from`, `import type`,
 * `export … from`, `import '…'`, `import('…')` and `require('…')`, never a string or a comment that only
 * mentions a module. A path built at run time (`import(name)`) cannot be known here.
 */
function scanImports(file) {
  const text = readFileSync(join(root, file), 'utf8')
  const specifiers = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName)
  return specifiers.map((spec) => {
    if (!spec.startsWith('.')) return { spec, external: spec }
    const target = relative(root, resolve(root, dirname(file), spec))
      .split(sep)
      .join('/')
      .replace(/\.([cm]?)js$/, '.$1ts')
    return { spec, target }
  })
}

/** 0 shared core, 1 roles, 2 download, 3 public API, 4 commands. */
function layerOf(file) {
  if (file === 'src/index.ts') return 3
  if (file.startsWith('src/cli/')) return 4
  if (file.startsWith('src/core/download/')) return 2
  if (file.startsWith('src/core/transfer/') || file.startsWith('src/core/discovery/')) return 1
  return 0
}

const roleOf = (file) => (layerOf(file) === 1 ? file.split('/')[2] : undefined)

export function check(files, importsOfFile) {
  const problems = []
  const graph = new Map()
  for (const file of files) {
    const edges = []
    for (const { spec, target, external } of importsOfFile(file)) {
      if (external !== undefined) {
        if (file.startsWith('src/core/') && TERMINAL_PACKAGES.includes(external))
          problems.push(`${file}: imports ${external} (the core has no terminal output)`)
        continue
      }
      if (!files.includes(target)) {
        problems.push(`${file}: imports ${spec}, which is not a source file under src/`)
        continue
      }
      edges.push(target)
      if (layerOf(target) > layerOf(file)) problems.push(`${file}: imports ${target}, a layer above it`)
      else if (roleOf(file) && roleOf(target) && roleOf(file) !== roleOf(target))
        problems.push(`${file}: imports ${target}: the role directories do not import each other`)
      if (builtOnApi(file) && target.startsWith('src/core/'))
        problems.push(
          `${file}: imports ${target}; a command imports the library from src/index.ts and the frame from ${COMMAND_FRAME}`,
        )
    }
    graph.set(file, edges)
  }
  for (const cycle of cycles(graph)) problems.push(`import cycle: ${[...cycle, cycle[0]].join(' → ')}`)
  return problems
}

/** Every strongly connected component with more than one module (or a module importing itself), as a path. */
function cycles(graph) {
  let next = 0
  const index = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const out = []
  const visit = (v) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)))
      }
    }
    if (low.get(v) !== index.get(v)) return
    const component = []
    for (let w; w !== v; ) {
      w = stack.pop()
      onStack.delete(w)
      component.push(w)
    }
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.reverse())
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return out
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = sources(join(root, 'src')).sort()
  const problems = check(files, importsOf)
  if (files.some((f) => f.startsWith('src/cli/')) && !files.includes(COMMAND_FRAME))
    problems.push(`${COMMAND_FRAME}, the command frame, does not exist: update COMMAND_FRAME`)
  for (const p of problems) console.error(`imports: ${p}`)
  if (problems.length > 0) process.exit(1)
  const edges = files.reduce((n, f) => n + importsOf(f).filter((i) => i.target).length, 0)
  console.log(`imports: ${files.length} modules, ${edges} imports, no cycle, every import points down`)
}
