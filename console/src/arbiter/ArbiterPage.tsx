/**
 * The arbiter's view: disputed payments waiting for a decision, oldest first, from the node's dispute
 * index (however many payments came since), each with the payer's dispute (the payer's words, or the
 * signed reason when the node got none) and the
 * merchant's side: fulfilment and the merchant's signed notes (time, text, evidence; shown as text,
 * never as HTML), which reach every node by gossip; a decision
 * splits the held amount between payer and merchant in exact yuan, is signed here with the arbiter's
 * own key (keystore or browser wallet) and submitted to the node, and its on-chain result is shown.
 */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { id as keccakText } from "ethers";
import { useState, type FormEvent } from "react";

import { regulatorApi, type DisputeView, type StoredOperation } from "../api/regulator.ts";
import { Alert } from "../components/Alert.tsx";
import { parseMajorUnits } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { useNodeErrorText } from "../node/errors.ts";
import { KeyPicker } from "../node/KeyPicker.tsx";
import { freshNonceAndDeadline, resolveTypedData, type PersonalSigner } from "../node/signing.ts";
import { Address, DisputeNotes, Hex, PayerReason, chainTime, money, useNetwork, useTokens } from "../regulator/common.tsx";

export function ArbiterPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const [signer, setSigner] = useState<PersonalSigner>();
  const open = useInfiniteQuery({
    queryKey: ["arb", "disputes", "open"],
    queryFn: ({ pageParam }) => regulatorApi.disputes("open", pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next,
    refetchInterval: 5_000,
  });
  const resolved = useQuery({ queryKey: ["arb", "disputes", "resolved"], queryFn: () => regulatorApi.disputes("resolved"), refetchInterval: 5_000 });
  const waiting = (open.data?.pages ?? []).flatMap((p) => p.items);
  const decided = resolved.data?.items ?? [];
  return (
    <section aria-labelledby="disputes-title">
      <h1 id="disputes-title">{t("arb.title")}</h1>
      <KeyPicker signer={signer} onSigner={setSigner} />
      {open.isError ? <Alert text={errorText(open.error)} /> : null}
      {open.isSuccess && waiting.length === 0 ? <p>{t("arb.none")}</p> : null}
      {waiting.map((d) => (
        <Dispute key={d.payment.paymentId} dispute={d} signer={signer} tokens={tokens} />
      ))}
      {open.hasNextPage ? (
        <button type="button" onClick={() => void open.fetchNextPage()} disabled={open.isFetchingNextPage}>
          {t("arb.more")}
        </button>
      ) : null}
      {decided.length > 0 ? (
        <section aria-labelledby="resolved-title">
          <h2 id="resolved-title">{t("arb.resolvedTitle")}</h2>
          {decided.map((d) => (
            <Dispute key={d.payment.paymentId} dispute={d} signer={signer} tokens={tokens} />
          ))}
        </section>
      ) : null}
    </section>
  );
}

function Dispute({ dispute: item, signer, tokens }: { dispute: DisputeView; signer: PersonalSigner | undefined; tokens: ReturnType<typeof useTokens> }) {
  const { payment } = item;
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const network = useNetwork();
  const queryClient = useQueryClient();
  const view = useQuery({ queryKey: ["arb", "payment", payment.paymentId], queryFn: () => regulatorApi.payment(payment.paymentId) });
  const [payerShare, setPayerShare] = useState("");
  const [reason, setReason] = useState("");
  const [pending, setPending] = useState<string>();
  const token = tokens.get(payment.token.toLowerCase());
  const decimals = token?.decimals ?? 0;
  const held = BigInt(payment.amount) - BigInt(payment.refunded);
  const operations: StoredOperation[] = view.data?.operations ?? [];
  const pay = operations.find((o) => o.kind === "pay");
  // An empty or "0" share is the payer's nothing; parseMajorUnits takes only amounts above zero.
  const payerAmount = payerShare.trim() === "" || /^0+(\.0*)?$/.test(payerShare.trim()) ? 0n : parseMajorUnits(payerShare, decimals);
  const valid = payerAmount !== undefined && payerAmount <= held && reason.trim() !== "";
  const result = useQuery({
    queryKey: ["arb", "operation", pending],
    queryFn: async () => {
      const op = await regulatorApi.operation(pending ?? "");
      if (op.status === "executed" || op.status === "failed") await queryClient.invalidateQueries({ queryKey: ["arb", "disputes"] });
      return op;
    },
    enabled: pending !== undefined,
    refetchInterval: (query) => (query.state.data?.status === "executed" || query.state.data?.status === "failed" ? false : 1_000),
  });
  const resolve = useMutation({
    mutationFn: async () => {
      if (!signer || !network.data || !pay || payerAmount === undefined) throw new Error("not ready");
      const draft = { payerAmount: payerAmount.toString(), reason: keccakText(reason.trim()), ...freshNonceAndDeadline() };
      const signature = await signer.sign(resolveTypedData(network.data, { paymentId: payment.paymentId, ...draft }));
      return regulatorApi.submit({ kind: "resolve", terms: pay.op["terms"], ...draft, signature });
    },
    onSuccess: (accepted) => setPending(accepted.id),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (valid) resolve.mutate();
  };
  const resolved = payment.events.find((e) => e.event === "PaymentResolved");
  const merchantAmount = payerAmount !== undefined && payerAmount <= held ? held - payerAmount : undefined;
  return (
    <article className="card" aria-label={t("arb.payment", { id: payment.paymentId.slice(0, 10) })}>
      <h2>{t("arb.payment", { id: payment.paymentId.slice(0, 10) })}</h2>
      <dl className="facts">
        <dt>{t("arb.held")}</dt>
        <dd>{money(held.toString(), payment.token, tokens)}</dd>
        <dt>{t("reg.audit.payer")}</dt>
        <dd>
          <Address value={payment.payer} />
        </dd>
        <dt>{t("reg.audit.merchant")}</dt>
        <dd>
          <Address value={payment.merchant} />
        </dd>
        <dt>{t("arb.payerReason")}</dt>
        <dd>
          <PayerReason reason={item.reason} text={item.reasonText} />
        </dd>
        <dt>{t("arb.merchantSide")}</dt>
        <dd>{operations.some((o) => o.kind === "markFulfilled") ? t("arb.fulfilled") : t("arb.notFulfilled")}</dd>
        <dt>{t("arb.notes")}</dt>
        <dd>
          <DisputeNotes notes={item.notes} />
        </dd>
      </dl>
      {resolved ? (
        <p role="status" className="status" data-status="released">
          {t("arb.resolvedOnChain", { payer: money(String(resolved.args["payerAmount"] ?? "0"), payment.token, tokens), block: resolved.blockNumber, time: chainTime(resolved.timestamp) })}{" "}
          <Hex value={resolved.txHash} label={t("reg.history.tx")} />
        </p>
      ) : (
        <form onSubmit={submit}>
          <label htmlFor={`payer-${payment.paymentId}`}>{t("arb.payerShare", { held: money(held.toString(), payment.token, tokens) })}</label>
          <input id={`payer-${payment.paymentId}`} inputMode="decimal" value={payerShare} onChange={(e) => setPayerShare(e.target.value)} aria-invalid={payerShare !== "" && !valid} />
          <p>{merchantAmount !== undefined ? t("arb.merchantShare", { amount: money(merchantAmount.toString(), payment.token, tokens) }) : t("arb.invalidShare")}</p>
          <label htmlFor={`reason-${payment.paymentId}`}>{t("arb.reason")}</label>
          <input id={`reason-${payment.paymentId}`} value={reason} maxLength={200} onChange={(e) => setReason(e.target.value)} />
          {resolve.isError ? <Alert text={errorText(resolve.error)} /> : null}
          {pending && result.data?.status !== "executed" ? <p role="status">{t("arb.pending")}</p> : null}
          {result.data?.status === "failed" ? <Alert text={t("reg.freeze.failed", { code: result.data.error?.code ?? "" })} /> : null}
          <button type="submit" className="primary" disabled={!signer || !valid || resolve.isPending || pending !== undefined}>
            {t("arb.resolve")}
          </button>
        </form>
      )}
    </article>
  );
}
