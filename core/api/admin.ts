/** Admin resource of the node API: a backup of the running node's database. */
import { problemResponses, route, text } from "./common.js";

export const adminRoutes = {
  downloadBackup: route("GET", "/v1/admin/backup", {
    operationId: "downloadBackup",
    tags: ["admin"],
    summary: "Stream a backup of the node's database (one LevelDB snapshot taken when the request arrives)",
    description:
      "NDJSON: a header line, one line per record, and a trailer with the record count and the content's SHA-256; a truncated stream fails those checks. The API listens on loopback by default: expose it no further than the operators who may read the whole store.",
    response: {
      200: { description: "The backup", content: { "application/x-ndjson": { schema: text("Backup lines (header, records, trailer)") } } },
      ...problemResponses,
    },
  }),
};
