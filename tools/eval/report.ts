/** Rendering an EvalReport: a human table (metric rows × model columns) and the one-line JSON form. */
import type { EvalReport, GroupMetrics, ModelReport } from './evaluate.ts';
import type { Rate } from './scoring.ts';

const fixed = (v: number | null | undefined, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const big = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v >= 1000 ? v.toExponential(2) : v.toFixed(2));
const pct = (r: Rate) => (r.rate === null ? '–' : `${(100 * r.rate).toFixed(1)}% (${r.correct}/${r.total})`);
const pctOnly = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);

/**
 * A text table under a dashed rule: figures (the default) keep the first column left and the rest right-aligned;
 * `text` aligns every column left (lines of words, as the misses listing prints).
 */
export function table(header: string[], rows: string[][], align: 'figures' | 'text' = 'figures'): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (c: string, i: number) => (i === 0 || align === 'text' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!));
  const line = (cells: string[]) => cells.map(pad).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatReport(report: EvalReport): string {
  const models = report.models;
  const header = ['metric', ...models.map((m) => m.label), 'reference'];
  const row = (name: string, cell: (m: ModelReport) => string, reference = '') => [name, ...models.map(cell), reference];
  const ref = report.reference;
  const rows: string[][] = [
    row('parameters', (m) => (m.parameters === null ? '–' : `${(m.parameters / 1e6).toFixed(2)} M`)),
    row('reply loss (nats/token)', (m) => fixed(m.replyLoss.loss)),
    row('reply perplexity', (m) => big(m.replyLoss.perplexity)),
    row('  reply tokens scored', (m) => `${m.replyLoss.tokens} (${m.replyLoss.samples} samples${m.replyLoss.skipped ? `, ${m.replyLoss.skipped} skipped` : ''})`),
  ];
  if (models.some((m) => m.general)) {
    rows.push(row('general perplexity', (m) => big(m.general?.perplexity)));
    rows.push(row('  general tokens scored', (m) => (m.general ? String(m.general.tokens) : '–')));
  }
  rows.push(
    row('copy probe: random block (nats)', (m) => (m.copy ? `${fixed(m.copy.firstNats, 2)} → ${fixed(m.copy.repeatNats, 2)} repeated` : '–')),
    row('  common tokens (nats)', (m) => (m.copyCommon ? `${fixed(m.copyCommon.firstNats, 2)} → ${fixed(m.copyCommon.repeatNats, 2)} repeated` : '–')),
    row('lore accuracy', (m) => pct(m.metrics.loreAccuracy), pct(ref.loreAccuracy)),
    row('  lore keyword recall', (m) => pctOnly(m.metrics.loreKeywordRecall), pctOnly(ref.loreKeywordRecall)),
    row('action accuracy', (m) => pct(m.metrics.actionAccuracy), pct(ref.actionAccuracy)),
    row('refusal: action none', (m) => pct(m.metrics.refusalActionNone), pct(ref.refusalActionNone)),
    row('refusal: speech clean', (m) => pct(m.metrics.refusalSpeechClean), pct(ref.refusalSpeechClean)),
    row('legal action calls', (m) => pct(m.metrics.legalActions), pct(ref.legalActions)),
    row('speech: no doubled word', (m) => pct(m.metrics.noDoubledWords), pct(ref.noDoubledWords)),
    row('generation errors', (m) => `${m.generation.errors}/${m.generation.requests}`),
    row('generation tok/s', (m) => m.generation.tokensPerSecond.toFixed(0)),
    row('seconds', (m) => m.seconds.toFixed(1)),
  );

  const kindRows = (pick: (m: ModelReport) => Record<string, GroupMetrics>, title: string): string => {
    const keys = [...new Set(models.flatMap((m) => Object.keys(pick(m))))].sort();
    const cells = (g: GroupMetrics | undefined) => {
      if (!g) return '–';
      const acc = [g.loreAccuracy !== null ? `lore ${pctOnly(g.loreAccuracy)}` : '', g.actionAccuracy !== null ? `act ${pctOnly(g.actionAccuracy)}` : '', g.refusalActionNone !== null ? `ref ${pctOnly(g.refusalActionNone)}` : '']
        .filter(Boolean)
        .join(' ');
      return `loss ${fixed(g.loss, 2)}${acc ? ` ${acc}` : ''}`;
    };
    const body = keys.map((k) => [`${k} (${models[0] ? (pick(models[0])[k]?.samples ?? 0) : 0})`, ...models.map((m) => cells(pick(m)[k]))]);
    return table([title, ...models.map((m) => m.label)], body);
  };

  const s = report.samples;
  const lines = [
    `eval: ${s.total} samples of ${report.split}${report.corpus ? ` (${report.corpus})` : ''}; ${s.generated} generated (${s.lore} lore, ${s.action} action, ${s.refusal} refusal); ` +
      `decoding ${report.settings.decoding === 'greedy' ? 'greedy (temperature 0)' : "the script's sampling"}, lore grounding ${report.settings.loreGrounding ?? 0} nats, action memory ${report.settings.actionMemory ?? 0} nats, call grounding ${report.settings.callGrounding === false ? 'off' : 'on'}, seed ${report.settings.seed}`,
    `  lore: ${report.settings.loreRule}`,
    `  refusal: ${report.settings.refusalRule}`,
    `  loss: ${report.settings.loss}`,
    `  reference = the corpus's own replies through the same scoring (the ceiling)`,
    '',
    table(header, rows),
    '',
    kindRows((m) => m.byKind, 'by kind (samples)'),
    '',
    kindRows((m) => m.bySource, 'by source (samples)'),
    '',
    kindRows((m) => m.byLoreRetrieval, 'lore by retrieval (samples)'),
    '',
    kindRows((m) => m.byActionFamily ?? {}, 'action by request family (samples)'),
    ...(models.some((m) => Object.keys(m.byLoreFact ?? {}).length > 0) ? ['', kindRows((m) => m.byLoreFact ?? {}, 'lore by fact (samples)')] : []),
  ];
  for (const m of models) {
    if (m.generation.errors) lines.push(`[${m.label}] generation errors, e.g. ${m.generation.errorExamples[0]}`);
    if (m.replyLoss.skipped) lines.push(`[${m.label}] loss skipped ${m.replyLoss.skipped} samples, e.g. ${m.replyLoss.skippedExamples[0]}`);
  }
  return lines.join('\n');
}

/** The JSON form (`{"eval": …}`), one line; non-finite numbers become null. Replies are dropped unless asked for. */
export function reportJson(report: EvalReport, options: { replies?: boolean } = {}): string {
  const body = options.replies ? report : { ...report, models: report.models.map(({ replies: _replies, ...m }) => m) };
  return JSON.stringify({ eval: body }, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value));
}
