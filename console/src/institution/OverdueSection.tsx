/**
 * The overview's section on money stuck in an intermediate state: the node's overdue alerts
 * (GET /v1/admin/overdue, operators only) with each kind's threshold, read as often as the figures.
 */
import { useQuery } from "@tanstack/react-query";
import { z } from "zod";

import { nodeCall } from "../api/node.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useNodeErrorText } from "../node/errors.ts";

const KINDS = ["operation_not_relayed", "operation_no_outcome", "custody_minting"] as const;
const overdueReport = z.object({
  checkedAtMs: z.number(),
  kinds: z.array(z.object({ kind: z.enum(KINDS), thresholdSeconds: z.number(), count: z.number(), oldestAgeSeconds: z.number(), truncated: z.boolean() })),
  alerts: z.array(z.object({ kind: z.enum(KINDS), id: z.string(), operationKind: z.string().optional(), sinceMs: z.number(), ageSeconds: z.number() })),
});

const KIND_LABEL: Record<(typeof KINDS)[number], MessageKey> = {
  operation_not_relayed: "inst.overdue.kind.operation_not_relayed",
  operation_no_outcome: "inst.overdue.kind.operation_no_outcome",
  custody_minting: "inst.overdue.kind.custody_minting",
};

export function OverdueSection({ pollMs }: { pollMs: number }) {
  const { t, locale } = useI18n();
  const errorText = useNodeErrorText();
  const report = useQuery({ queryKey: ["inst", "overdue"], queryFn: () => nodeCall(overdueReport, "/v1/admin/overdue?limit=50"), refetchInterval: pollMs });
  const data = report.data;
  return (
    <section className="card" aria-labelledby="overdue-title">
      <h2 id="overdue-title">{t("inst.overdue")}</h2>
      {report.isError ? <Alert text={errorText(report.error)} /> : null}
      {data ? (
        <ul>
          {data.kinds.map((k) => (
            <li key={k.kind} data-testid={`overdue-${k.kind}`}>
              {t(KIND_LABEL[k.kind])}: {t("inst.overdue.count", { count: `${k.count}${k.truncated ? "+" : ""}`, seconds: k.thresholdSeconds })}
            </li>
          ))}
        </ul>
      ) : null}
      {data && data.alerts.length === 0 ? <p>{t("inst.overdue.none")}</p> : null}
      {data && data.alerts.length > 0 ? (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th>{t("inst.overdue.what")}</th>
                <th>{t("inst.ops.id")}</th>
                <th>{t("inst.overdue.since")}</th>
                <th>{t("inst.overdue.age")}</th>
              </tr>
            </thead>
            <tbody>
              {data.alerts.map((a) => (
                <tr key={`${a.kind}:${a.id}`}>
                  <td>
                    {t(KIND_LABEL[a.kind])}
                    {a.operationKind ? ` (${a.operationKind})` : ""}
                  </td>
                  <td>
                    <code title={a.id}>{a.id.length > 14 ? `${a.id.slice(0, 10)}…` : a.id}</code>
                  </td>
                  <td>{new Date(a.sinceMs).toLocaleString(locale)}</td>
                  <td>{t("inst.overdue.seconds", { seconds: a.ageSeconds })}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
