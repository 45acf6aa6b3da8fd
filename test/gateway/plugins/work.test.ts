/**
 * The gateway's work counters (gateway/plugins/app/work.ts) as Prometheus serves them: each read from
 * the counts when scraped, labelled ones with one series per label value.
 */
import { expect } from "chai";
import { Registry } from "prom-client";

import { registerWorkMetrics } from "../../../gateway/plugins/app/work.js";

describe("gateway work metrics", function () {
  it("serves the counts as they are when scraped, keys written by keyspace and node requests by operation", async function () {
    const registry = new Registry();
    const work = {
      http: { validations: 3, answers: new Map([["POST /v1/payments 201", 2]]) },
      storage: { writeSections: 4, writtenKeys: 7, writtenByKeyspace: new Map([["orders", 5]]), writtenBytesByKeyspace: new Map([["orders", 5_000]]), pointReads: 1, multiReads: 0, rangeReads: 2 },
      node: { requests: new Map([["submitBatch", 6]]), parsed: 6 },
    };
    registerWorkMetrics(registry, work);
    // Counts that change after registration are what a scrape reads.
    work.storage.writtenByKeyspace.set("ordersByStatus", 2);
    work.storage.writtenByKeyspace.set("orders", 6);
    work.storage.writtenBytesByKeyspace.set("orders", 6_100);
    const text = await registry.metrics();
    expect(text).to.include('gateway_storage_written_keys_total{keyspace="orders"} 6');
    expect(text).to.include('gateway_storage_written_keys_total{keyspace="ordersByStatus"} 2');
    expect(text).to.include('gateway_storage_written_bytes_total{keyspace="orders"} 6100');
    expect(text).to.include('gateway_node_requests_total{operation="submitBatch"} 6');
    expect(text).to.include('gateway_http_answers_total{method="POST",route="/v1/payments",status="201"} 2');
    expect(text).to.include("gateway_storage_write_sections_total 4");
    // Registering again (an app rebuilt in the same process) replaces the counters instead of failing.
    registerWorkMetrics(registry, { ...work, storage: { ...work.storage, writtenByKeyspace: new Map([["events", 1]]), writtenBytesByKeyspace: new Map([["events", 400]]) } });
    const again = await registry.metrics();
    expect(again).to.include('gateway_storage_written_keys_total{keyspace="events"} 1');
    expect(again).to.include('gateway_storage_written_bytes_total{keyspace="events"} 400');
    expect(again).not.to.include('keyspace="orders"');
  });
});
