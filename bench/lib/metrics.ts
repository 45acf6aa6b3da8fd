/** Prometheus text as the nodes serve it on GET /metrics, read by metric name. */

/**
 * Sum of every series of `name` whose labels include all of `labels`; undefined when the text neither
 * declares the metric nor has a series of it (a node built before the metric existed), so callers can
 * say "n/a" rather than 0.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split("\n")) {
    // A declared counter with no sample yet (labelled counters before their first increment) is 0, not absent.
    if (line.startsWith(`# TYPE ${name} `)) total ??= 0;
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const close = rest[0] === "{" ? rest.lastIndexOf("}") : -1;
    const labelText = close >= 0 ? rest.slice(1, close) : "";
    if (Object.entries(labels).some(([k, v]) => !labelText.includes(`${k}="${v}"`))) continue;
    const value = Number(rest.slice(close + 1).trim().split(" ")[0]);
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

/** Each value of `label` among the series of `name`, with the sum of its series (series without the label are left out). */
export function metricByLabel(text: string, name: string, label: string): Record<string, number> {
  const sums: Record<string, number> = {};
  const pattern = new RegExp(`(?:^|,)${label}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf("}");
    const value = pattern.exec(line.slice(name.length + 1, close))?.[1];
    const count = Number(line.slice(close + 1).trim().split(" ")[0]);
    if (value !== undefined && Number.isFinite(count)) sums[value] = (sums[value] ?? 0) + count;
  }
  return sums;
}
