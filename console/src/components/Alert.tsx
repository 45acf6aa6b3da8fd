/** A message screen readers announce at once; it takes focus so keyboard users land on it too. */
import { useEffect, useRef } from "react";

export function Alert({ text, kind = "error" }: { text: string; kind?: "error" | "info" }) {
  const ref = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (kind === "error") ref.current?.focus();
  }, [text, kind]);
  return (
    <p ref={ref} className={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"} tabIndex={-1}>
      {text}
    </p>
  );
}
