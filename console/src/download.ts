/** Hands text to the browser as a file to save (the page's data never goes back to a server for it). */

/** Offers `text` as a file download. */
export function download(filename: string, text: string, type: "text/csv" | "application/json" = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}
