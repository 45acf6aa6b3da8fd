/**
 * Settlement cycles: state, totals, attestations and records; statements of a merchant or an
 * institution (JSON, CSV); and for any record of a finalized cycle its Merkle proof, verified here in
 * the browser step by step — the leaf's hash from its values, each sibling folded in, the computed
 * root — against the root SettlementLedger finalized (as the node read it from the chain), and once
 * more with @openzeppelin/merkle-tree's own verify.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { useMutation, useQuery } from "@tanstack/react-query";
import { AbiCoder, concat, keccak256 } from "ethers";
import { useState } from "react";

import { regulatorApi, type RecordProof, type SettlementRecord } from "../api/regulator.ts";
import { Alert } from "../components/Alert.tsx";
import { Link } from "../components/router.tsx";
import { download } from "../download.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { useNodeErrorText } from "../node/errors.ts";
import { Address, Hex, chainTime, money, useTokens } from "./common.tsx";

export function CyclesPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const cycles = useQuery({ queryKey: ["reg", "cycles"], queryFn: () => regulatorApi.cycles() });
  return (
    <section aria-labelledby="cycles-title">
      <h1 id="cycles-title">{t("reg.cycles.title")}</h1>
      {cycles.isError ? <Alert text={errorText(cycles.error)} /> : null}
      {cycles.data?.items.length === 0 ? <p>{t("reg.cycles.none")}</p> : null}
      <ul className="plain">
        {cycles.data?.items.map((c) => (
          <li key={c.cycleId} className="card">
            <Link to={`/console/regulator/cycles/${c.cycleId}`}>{t("reg.cycles.item", { id: c.cycleId, status: c.status })}</Link>
            <p>
              {chainTime(c.start)} – {chainTime(c.end)} · {t("reg.cycles.records", { count: c.summary.recordCount })} · {t("reg.cycles.gross", { amount: money(c.summary.grossAmount, [...tokens.keys()][0], tokens) })}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function CyclePage({ id }: { id: string }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const cycle = useQuery({ queryKey: ["reg", "cycle", id], queryFn: () => regulatorApi.cycle(id) });
  const records = useQuery({ queryKey: ["reg", "records", id], queryFn: () => regulatorApi.records(id) });
  const [proving, setProving] = useState<SettlementRecord>();
  if (cycle.isError) return <Alert text={errorText(cycle.error)} />;
  if (!cycle.data) return <p>{t("loading")}</p>;
  const c = cycle.data;
  return (
    <section aria-labelledby="cycle-title">
      <Link to="/console/regulator/cycles">{t("reg.cycles.back")}</Link>
      <h1 id="cycle-title">{t("reg.cycles.item", { id: c.cycleId, status: c.status })}</h1>
      <dl className="facts">
        <dt>{t("reg.cycles.window")}</dt>
        <dd>
          {chainTime(c.start)} – {chainTime(c.end)}
        </dd>
        <dt>{t("reg.cycles.root")}</dt>
        <dd className="address">{c.summary.merkleRoot}</dd>
        <dt>{t("reg.cycles.totals")}</dt>
        <dd>{t("reg.cycles.totalsText", { count: c.summary.recordCount, gross: money(c.summary.grossAmount, [...tokens.keys()][0], tokens), fee: money(c.summary.feeAmount, [...tokens.keys()][0], tokens) })}</dd>
        <dt>{t("reg.cycles.finalized")}</dt>
        <dd>{c.finalized ? t("reg.cycles.finalizedText", { count: c.finalized.attestationCount, matches: c.finalized.matches ? "✓" : "✗" }) : "—"}</dd>
      </dl>
      <h2>{t("reg.cycles.attestations")}</h2>
      <ul>
        {c.attestations.map((a) => (
          <li key={a.institution}>
            <Address value={a.institution} /> · <Hex value={`${a.signature.slice(0, 18)}…`} label={t("reg.history.signature")} />
          </li>
        ))}
      </ul>
      <Statements cycleId={c.cycleId} />
      <h2>{t("reg.cycles.recordList")}</h2>
      {records.isError ? <Alert text={errorText(records.error)} /> : null}
      <div className="table-wrap">
        <table className="list">
          <thead>
            <tr>
              <th>{t("reg.cycles.kind")}</th>
              <th>{t("reg.cycles.account")}</th>
              <th>{t("reg.audit.amount")}</th>
              <th>{t("reg.cycles.proof")}</th>
            </tr>
          </thead>
          <tbody>
            {records.data?.items.map((r) => (
              <tr key={`${r.kindName}-${r.recordId}`}>
                <td>{r.kindName}</td>
                <td>
                  <Address value={r.account} />
                </td>
                <td className="num">{money(r.amount, r.token, tokens)}</td>
                <td>
                  <button type="button" onClick={() => setProving(r)} disabled={!c.finalized}>
                    {t("reg.proof.verify")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {proving && c.finalized ? <ProofSteps record={proving} onChainRoot={c.finalized.merkleRoot} /> : null}
    </section>
  );
}

function Statements({ cycleId }: { cycleId: string }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const [type, setType] = useState<"merchant" | "institution">("merchant");
  const [account, setAccount] = useState("");
  const get = useMutation({
    mutationFn: async (format: "csv" | "json") => {
      const party = { [type]: account.trim() };
      const text = format === "csv" ? await regulatorApi.statementCsv(cycleId, party) : await regulatorApi.statementJson(cycleId, party);
      download(`statement-${cycleId}-${account.trim()}.${format}`, text, format === "csv" ? "text/csv" : "application/json");
    },
  });
  return (
    <div className="card">
      <h2>{t("reg.statements.title")}</h2>
      {get.isError ? <Alert text={errorText(get.error)} /> : null}
      <label htmlFor="statement-type">{t("reg.statements.party")}</label>
      <select id="statement-type" value={type} onChange={(e) => setType(e.target.value as typeof type)}>
        <option value="merchant">{t("reg.audit.merchant")}</option>
        <option value="institution">{t("reg.audit.institution")}</option>
      </select>
      <label htmlFor="statement-account">{t("reg.audit.address")}</label>
      <input id="statement-account" className="address" value={account} onChange={(e) => setAccount(e.target.value)} placeholder="0x…" />
      <button type="button" onClick={() => get.mutate("json")} disabled={!account.trim() || get.isPending}>
        {t("reg.download.json")}
      </button>
      <button type="button" onClick={() => get.mutate("csv")} disabled={!account.trim() || get.isPending}>
        {t("reg.download.csv")}
      </button>
    </div>
  );
}

/** The proof's steps as OpenZeppelin's StandardMerkleTree computes them (sorted pairs, double-hashed leaves). */
function proofSteps(proof: RecordProof): { leafHash: string; steps: { sibling: string; result: string }[]; root: string } {
  const leafHash = keccak256(keccak256(AbiCoder.defaultAbiCoder().encode(proof.leafEncoding, proof.leaf)));
  let current = leafHash;
  const steps = proof.proof.map((sibling) => {
    const [a, b] = BigInt(current) < BigInt(sibling) ? [current, sibling] : [sibling, current];
    current = keccak256(concat([a, b]));
    return { sibling, result: current };
  });
  return { leafHash, steps, root: current };
}

function ProofSteps({ record, onChainRoot }: { record: SettlementRecord; onChainRoot: string }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const proof = useQuery({ queryKey: ["reg", "proof", record.cycleId, record.kindName, record.recordId], queryFn: () => regulatorApi.proof(record.cycleId, record.kindName, record.recordId) });
  if (proof.isError) return <Alert text={errorText(proof.error)} />;
  if (!proof.data) return <p>{t("loading")}</p>;
  const p = proof.data;
  const computed = proofSteps(p);
  const matchesChain = computed.root.toLowerCase() === onChainRoot.toLowerCase();
  const library = StandardMerkleTree.verify(onChainRoot, p.leafEncoding, p.leaf, p.proof);
  const verified = matchesChain && library && computed.leafHash.toLowerCase() === p.leafHash.toLowerCase();
  return (
    <section className="card" aria-labelledby="proof-title">
      <h2 id="proof-title">{t("reg.proof.title", { kind: record.kindName })}</h2>
      <ol className="proof">
        <li>
          {t("reg.proof.leaf")} <span className="address">({p.leafEncoding.join(", ")}) = ({p.leaf.join(", ")})</span>
          <br />
          {t("reg.proof.leafHash")} <Hex value={computed.leafHash} />
        </li>
        {computed.steps.map((s, i) => (
          <li key={s.sibling + String(i)}>
            {t("reg.proof.sibling", { n: i + 1 })} <Hex value={s.sibling} /> → <Hex value={s.result} />
          </li>
        ))}
        <li>
          {t("reg.proof.computedRoot")} <Hex value={computed.root} />
        </li>
        <li>
          {t("reg.proof.onChainRoot")} <Hex value={onChainRoot} />
        </li>
      </ol>
      <p role="status" className="status" data-status={verified ? "released" : "failed"}>
        {verified ? t("reg.proof.ok") : t("reg.proof.bad")}
      </p>
    </section>
  );
}
