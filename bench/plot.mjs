// A line chart as SVG text, written by hand (a handful of lines needs no
// plotting library): linear axes with round ticks, one polyline with point
// markers per series, optional dashed reference lines, a legend.

const esc = (text) =>
  String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

/** Round tick step for a range: 1, 2 or 5 × a power of ten, about `count` ticks. */
function step(max, count) {
  const raw = max / count
  const power = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)
}

/**
 * series: [{ name, color, points: [[x, y], …] }]; references: [{ name, y }]
 * (horizontal dashed lines); xTicks: the x values to label.
 */
export function lineChart({ title, subtitle, xLabel, yLabel, series, references = [], xTicks }) {
  // The legend's column is as wide as its longest name (about 6.6 px a character at 12 px).
  const longest = Math.max(...[...series, ...references].map((s) => s.name.length))
  const m = { left: 70, right: Math.max(190, 56 + Math.ceil(6.6 * longest)), top: 64, bottom: 56 }
  const W = 530 + m.right
  const H = 440
  const pw = W - m.left - m.right
  const ph = H - m.top - m.bottom
  const xs = series.flatMap((s) => s.points.map(([x]) => x))
  const ys = [...series.flatMap((s) => s.points.map(([, y]) => y)), ...references.map((r) => r.y)].filter(
    Number.isFinite,
  )
  const xMax = Math.max(...xs, 1)
  const xMin = Math.min(...xs, 0)
  const yStep = step(Math.max(...ys, 1) * 1.05, 6)
  const yMax = Math.ceil((Math.max(...ys, 1) * 1.05) / yStep) * yStep
  const X = (x) => m.left + ((x - xMin) / (xMax - xMin || 1)) * pw
  const Y = (y) => m.top + ph - (y / yMax) * ph
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${m.left}" y="44" fill="#555">${esc(subtitle)}</text>`,
  ]
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(y)}" y2="${Y(y)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${m.left - 8}" y="${Y(y) + 4}" text-anchor="end">${esc(+y.toFixed(3))}</text>`)
  }
  for (const x of xTicks ?? [...new Set(xs)]) {
    out.push(`<line x1="${X(x)}" x2="${X(x)}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#333"/>`)
    out.push(`<text x="${X(x)}" y="${m.top + ph + 20}" text-anchor="middle">${esc(x)}</text>`)
  }
  out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#333"/>`)
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`)
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`)
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`)
  let legendY = m.top + 8
  const legend = (name, color, dashed) => {
    out.push(
      `<line x1="${W - m.right + 16}" x2="${W - m.right + 40}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2.5"${dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    )
    out.push(`<text x="${W - m.right + 46}" y="${legendY + 4}">${esc(name)}</text>`)
    legendY += 22
  }
  for (const r of references) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(r.y)}" y2="${Y(r.y)}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    )
    legend(r.name, '#888', true)
  }
  for (const s of series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y))
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2.5" points="${pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`,
      )
    for (const [x, y] of pts)
      out.push(
        `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="4" fill="${s.color}"><title>${esc(`${s.name}, N = ${x}: ${y.toFixed(2)} s`)}</title></circle>`,
      )
    legend(s.name, s.color, false)
  }
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
