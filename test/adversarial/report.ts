// The adversarial suite's tables: one per group, one row per case, in the
// same plain aligned format as the fault suite's (test/helpers/audit.ts).

export type Cell = string | number;
export type Row = Record<string, Cell>;

/** "97.5%", or "—" when nothing was counted. */
export function pct(n: number, of: number): string {
  if (of === 0) return "—";
  const p = (100 * n) / of;
  return `${Number.isInteger(p) ? p : p.toFixed(1)}%`;
}

export const mark = (ok: boolean): string => (ok ? "yes" : "NO");

/** An aligned text table: the first column left-aligned (case names), the rest right-aligned. */
export function formatGroup(title: string, rows: Row[]): string {
  const keys: string[] = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  const text = (row: Row, k: string): string => String(row[k] ?? "");
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => text(r, k).length)));
  const line = (cells: string[]): string =>
    "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ") + " |";
  const rule = "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|";
  return [title, line(keys), rule, ...rows.map((r) => line(keys.map((k) => text(r, k))))].join("\n");
}

export function printGroup(title: string, rows: Row[]): void {
  console.log("\n" + formatGroup(title, rows) + "\n");
}
