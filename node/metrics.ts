/** Get-or-create for the node's prom-client counters: components sharing a registry share a series. */
import { Counter, type Registry } from "prom-client";

/** The counter `name` of `registry` (created there if new); without a registry, one nobody reads. */
export function counterOf<L extends string = never>(registry: Registry | undefined, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: registry ? [registry] : [] });
}
