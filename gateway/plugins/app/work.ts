/**
 * What the gateway does, counted and served at /metrics: answers by route and status, schema checks
 * of requests and answers, storage work (storage/db.ts) and requests to the node (core/api/client.ts).
 * Answers sent already serialized (recorded with their change, routes/payments) are counted where
 * they are sent. Counts only (an increment each, read when /metrics is scraped), so that the work per payment can be
 * read off a load run: divide by gateway_http_answers_total of POST /v1/payments.
 */
import type { FastifySchemaCompiler } from "fastify";
import type { FastifySerializerCompiler } from "fastify/types/schema.js";
import { Counter, type Registry } from "prom-client";

import type { NodeClientWork } from "../../../core/api/client.js";
import type { StorageWork } from "../../storage/db.js";

/** Schema checks and answers of the app's routes. */
export interface HttpWork {
  /** Request parts (body, params, querystring, headers) checked against their schema. */
  validations: number;
  /** JSON answers by "METHOD url status" (each serialized against its schema once). */
  answers: Map<string, number>;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The counts of answers and schema checks (served at /metrics). */
    httpWork: HttpWork;
  }
}

/** Counts one JSON answer of a route. */
export function countAnswer(work: HttpWork, method: string, url: string, status: number | string): void {
  const key = `${method} ${url} ${status}`;
  work.answers.set(key, (work.answers.get(key) ?? 0) + 1);
}

/** The app's validator and serializer compilers with their calls counted in `work`. */
export function countedCompilers<V, S>(
  validator: FastifySchemaCompiler<V>,
  serializer: FastifySerializerCompiler<S>,
  work: HttpWork,
): { validator: FastifySchemaCompiler<V>; serializer: FastifySerializerCompiler<S> } {
  return {
    validator: (route) => {
      const validate = validator(route);
      return (data) => {
        work.validations += 1;
        return (validate as (data: unknown) => ReturnType<typeof validate>)(data);
      };
    },
    serializer: (route) => {
      const serialize = serializer(route);
      return (data) => {
        countAnswer(work, route.method, route.url, route.httpStatus ?? "");
        return serialize(data);
      };
    },
  };
}

/** Registers the work counters on `registry`, read from the counts when scraped. */
export function registerWorkMetrics(registry: Registry, work: { http: HttpWork; storage: StorageWork; node: NodeClientWork }): void {
  const names = [
    "gateway_http_answers_total",
    "gateway_http_validations_total",
    "gateway_storage_write_sections_total",
    "gateway_storage_written_keys_total",
    "gateway_storage_written_bytes_total",
    "gateway_storage_reads_total",
    "gateway_node_requests_total",
    "gateway_node_answers_parsed_total",
  ];
  // A rebuilt app (tests restart in-process) registers afresh on the same registry.
  for (const name of names) if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  const registers = [registry];
  /** A counter whose value is read from a count at scrape time. */
  const mirrored = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  /** A counter with one label, read at scrape time from a map of the label's values to their counts. */
  const mirroredByLabel = (name: string, help: string, label: string, counts: () => Map<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        for (const [value, count] of counts()) this.inc({ [label]: value }, count);
      },
    });
  new Counter({
    name: "gateway_http_answers_total",
    help: "JSON answers by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers,
    collect() {
      this.reset();
      for (const [key, count] of work.http.answers) {
        const [method = "", route = "", status = ""] = key.split(" ");
        this.inc({ method, route, status }, count);
      }
    },
  });
  mirrored("gateway_http_validations_total", "Request parts checked against their schema", () => work.http.validations);
  mirrored("gateway_storage_write_sections_total", "Storage read-modify-write sections (each answered after a synced group commit)", () => work.storage.writeSections);
  mirroredByLabel("gateway_storage_written_keys_total", "Keys put or deleted through the group commit, by keyspace", "keyspace", () => work.storage.writtenByKeyspace);
  mirroredByLabel(
    "gateway_storage_written_bytes_total",
    "Length of the keys and JSON values written through the group commit, by keyspace (bytes for ASCII text)",
    "keyspace",
    () => work.storage.writtenBytesByKeyspace,
  );
  new Counter({
    name: "gateway_storage_reads_total",
    help: "Storage reads by kind (point: get or has; multi: one getMany; range: one scan)",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ kind: "point" }, work.storage.pointReads);
      this.inc({ kind: "multi" }, work.storage.multiReads);
      this.inc({ kind: "range" }, work.storage.rangeReads);
    },
  });
  mirroredByLabel("gateway_node_requests_total", "Requests to the institution node by API operation", "operation", () => work.node.requests);
  mirrored("gateway_node_answers_parsed_total", "Node answers checked against the node API contract", () => work.node.parsed);
}
