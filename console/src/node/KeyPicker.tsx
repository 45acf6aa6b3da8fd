/** Chooses the key that signs: a keystore file and its password (decrypted in this page), or the browser wallet. */
import { useState, type FormEvent } from "react";

import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { hasWallet } from "../wallet/eip1193.ts";
import { keystoreSigner, walletSigner, type PersonalSigner } from "./signing.ts";

export function KeyPicker({ signer, onSigner }: { signer: PersonalSigner | undefined; onSigner: (signer: PersonalSigner | undefined) => void }) {
  const { t } = useI18n();
  const [file, setFile] = useState<string>();
  const [password, setPassword] = useState("");
  const [failed, setFailed] = useState(false);
  const [busy, setBusy] = useState(false);
  if (signer) {
    return (
      <p className="status">
        {t("key.loaded", { address: signer.address })}{" "}
        <button type="button" onClick={() => onSigner(undefined)}>
          {t("key.forget")}
        </button>
      </p>
    );
  }
  const open = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setBusy(true);
    setFailed(false);
    try {
      onSigner(await keystoreSigner(file, password));
      setPassword("");
    } catch {
      setFailed(true);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={open} className="keypicker">
      {failed ? <Alert text={t("key.failed")} /> : null}
      <label htmlFor="keystore-file">{t("key.file")}</label>
      <input id="keystore-file" type="file" accept="application/json,.json" onChange={(e) => void e.target.files?.[0]?.text().then(setFile)} />
      <label htmlFor="keystore-password">{t("key.password")}</label>
      <input id="keystore-password" type="password" autoComplete="off" value={password} onChange={(e) => setPassword(e.target.value)} />
      <button type="submit" disabled={!file || busy}>
        {busy ? t("key.opening") : t("key.open")}
      </button>
      {hasWallet() ? (
        <button type="button" onClick={() => void walletSigner().then(onSigner, () => setFailed(true))}>
          {t("key.wallet")}
        </button>
      ) : null}
    </form>
  );
}
