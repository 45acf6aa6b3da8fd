/**
 * Onboarding of the institution's merchants and customers: the node signs each change with its
 * operator key (server-side) and answers what it did; an account can be found, suspended and
 * reactivated.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { institutionApi, type OnboardingResult, type RegistryAccount } from "../api/institution.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useNodeErrorText } from "../node/errors.ts";

function useResultText(): (result: OnboardingResult) => string {
  const { t } = useI18n();
  return (result) => result.results.map((r) => t(r.changed ? "inst.onb.done" : "inst.onb.unchanged", { summary: r.summary })).join(" ");
}

export function OnboardingPage() {
  const [found, setFound] = useState<string | undefined>(undefined);
  return (
    <>
      <MerchantForm onDone={setFound} />
      <CustomerForm onDone={setFound} />
      <Lookup address={found} onFind={setFound} />
    </>
  );
}

function MerchantForm({ onDone }: { onDone: (address: string) => void }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const resultText = useResultText();
  const queryClient = useQueryClient();
  const [address, setAddress] = useState("");
  const [kyc, setKyc] = useState("1");
  const [fee, setFee] = useState("100");
  const [payout, setPayout] = useState("");
  const register = useMutation({
    mutationFn: () => institutionApi.registerMerchant({ address: address.trim(), kycLevel: Number(kyc), feeBps: Number(fee), payoutAccount: payout.trim() }),
    onSuccess: (result) => {
      queryClient.setQueryData(["inst", "account", result.account.address.toLowerCase()], result.account);
      onDone(result.account.address);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    register.mutate();
  };
  return (
    <section className="card" aria-labelledby="merchant-title">
      <h2 id="merchant-title">{t("inst.onb.merchant")}</h2>
      {register.isError ? <Alert text={errorText(register.error)} /> : null}
      {register.data ? <Alert kind="info" text={resultText(register.data)} /> : null}
      <form onSubmit={submit}>
        <label htmlFor="merchant-address">{t("inst.onb.address")}</label>
        <input id="merchant-address" required pattern="0x[0-9a-fA-F]{40}" value={address} onChange={(e) => setAddress(e.target.value)} />
        <label htmlFor="merchant-kyc">{t("inst.onb.kyc")}</label>
        <input id="merchant-kyc" type="number" min={0} max={255} required value={kyc} onChange={(e) => setKyc(e.target.value)} />
        <label htmlFor="merchant-fee">{t("inst.onb.fee")}</label>
        <input id="merchant-fee" type="number" min={0} max={10000} required value={fee} onChange={(e) => setFee(e.target.value)} />
        <label htmlFor="merchant-payout">{t("inst.onb.payout")}</label>
        <input id="merchant-payout" required maxLength={200} value={payout} onChange={(e) => setPayout(e.target.value)} />
        <button type="submit" className="primary" disabled={register.isPending}>
          {t("inst.onb.register")}
        </button>
      </form>
    </section>
  );
}

function CustomerForm({ onDone }: { onDone: (address: string) => void }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const resultText = useResultText();
  const [address, setAddress] = useState("");
  const [kyc, setKyc] = useState("1");
  const register = useMutation({
    mutationFn: () => institutionApi.registerCustomer({ address: address.trim(), kycLevel: Number(kyc) }),
    onSuccess: (result) => onDone(result.account.address),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    register.mutate();
  };
  return (
    <section className="card" aria-labelledby="customer-title">
      <h2 id="customer-title">{t("inst.onb.customer")}</h2>
      {register.isError ? <Alert text={errorText(register.error)} /> : null}
      {register.data ? <Alert kind="info" text={resultText(register.data)} /> : null}
      <form onSubmit={submit}>
        <label htmlFor="customer-address">{t("inst.onb.address")}</label>
        <input id="customer-address" required pattern="0x[0-9a-fA-F]{40}" value={address} onChange={(e) => setAddress(e.target.value)} />
        <label htmlFor="customer-kyc">{t("inst.onb.kyc")}</label>
        <input id="customer-kyc" type="number" min={0} max={255} required value={kyc} onChange={(e) => setKyc(e.target.value)} />
        <button type="submit" className="primary" disabled={register.isPending}>
          {t("inst.onb.register")}
        </button>
      </form>
    </section>
  );
}

function Lookup({ address, onFind }: { address: string | undefined; onFind: (address: string) => void }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const resultText = useResultText();
  const queryClient = useQueryClient();
  const [typed, setTyped] = useState("");
  const account = useQuery({ queryKey: ["inst", "account", address?.toLowerCase()], queryFn: () => institutionApi.account(address as string), enabled: address !== undefined });
  const status = useMutation({
    mutationFn: (next: "active" | "suspended") => institutionApi.setStatus(address as string, next),
    onSuccess: (result) => queryClient.setQueryData(["inst", "account", address?.toLowerCase()], result.account),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    status.reset();
    onFind(typed.trim());
  };
  return (
    <section className="card" aria-labelledby="lookup-title">
      <h2 id="lookup-title">{t("inst.onb.lookup")}</h2>
      <form onSubmit={submit}>
        <label htmlFor="lookup-address">{t("inst.onb.address")}</label>
        <input id="lookup-address" required pattern="0x[0-9a-fA-F]{40}" value={typed} onChange={(e) => setTyped(e.target.value)} />
        <button type="submit">{t("inst.onb.find")}</button>
      </form>
      {account.isError ? <Alert text={errorText(account.error)} /> : null}
      {status.isError ? <Alert text={errorText(status.error)} /> : null}
      {status.data ? <Alert kind="info" text={resultText(status.data)} /> : null}
      {account.data ? <AccountLine account={account.data} busy={status.isPending} onStatus={(next) => status.mutate(next)} /> : null}
    </section>
  );
}

function AccountLine({ account, busy, onStatus }: { account: RegistryAccount; busy: boolean; onStatus: (next: "active" | "suspended") => void }) {
  const { t } = useI18n();
  const kindKey = `inst.onb.kind.${account.kind}` as MessageKey;
  const statusKey = `inst.onb.status.${account.status}` as MessageKey;
  const onboarded = account.kind === "merchant" || account.kind === "customer";
  return (
    <div data-testid="account">
      <p>{t("inst.onb.account", { kind: t(kindKey), address: account.address, status: t(statusKey), kyc: account.kycLevel, fee: account.feeBps })}</p>
      {onboarded && account.status === "active" ? (
        <button type="button" disabled={busy} onClick={() => onStatus("suspended")}>
          {t("inst.onb.suspend")}
        </button>
      ) : null}
      {onboarded && account.status === "suspended" ? (
        <button type="button" disabled={busy} onClick={() => onStatus("active")}>
          {t("inst.onb.reactivate")}
        </button>
      ) : null}
    </div>
  );
}
