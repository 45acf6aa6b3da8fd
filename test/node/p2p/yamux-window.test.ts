import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";
import { defaultLogger } from "@libp2p/logger";
import { expect } from "chai";
import { Uint8ArrayList } from "uint8arraylist";

import { applyYamuxWindowUpdates } from "../../../node/p2p/yamux-window.js";

const WINDOW = 256 * 1024;
const DATA = 0;
const WINDOW_UPDATE = 1;
const ACK = 2;

interface SentFrame {
  type: number;
  flag: number;
  length: number;
}

/** A real yamux stream whose frames to the remote are recorded (what its muxer would encrypt and write). */
function stream(state: StreamState): { stream: YamuxStream; sent: SentFrame[] } {
  const sent: SentFrame[] = [];
  const s = new YamuxStream({
    id: "1",
    streamId: 1,
    state,
    direction: "inbound",
    log: defaultLogger().forComponent("test:yamux"),
    sendFrame: (header) => {
      sent.push({ type: header.type, flag: header.flag, length: header.length });
      return true;
    },
    getRTT: () => -1,
  });
  // Read what arrives, as gossipsub does, so nothing backs up in the read buffer.
  s.addEventListener("message", () => {});
  return { stream: s, sent };
}

/** Feeds `frames` data frames of `size` bytes from a remote that only sends within the credit it was given. */
function receive(s: YamuxStream, sent: SentFrame[], frames: number, size: number): { credit: number[] } {
  let credit = WINDOW;
  const credits: number[] = [];
  let granted = 0;
  for (let i = 0; i < frames; i++) {
    for (const frame of sent.slice(granted)) if (frame.type === WINDOW_UPDATE) credit += frame.length;
    granted = sent.length;
    // The remote sends only with credit: a frame it cannot send means flow control stalled it.
    expect(credit, `credit before frame ${i}`).to.be.at.least(size);
    credit -= size;
    credits.push(credit);
    s.handleData({ header: { type: DATA, flag: 0, streamID: 1, length: size }, data: new Uint8ArrayList(new Uint8Array(size)) });
  }
  return { credit: credits };
}

describe("yamux window updates", function () {
  before(() => applyYamuxWindowUpdates());

  it("grants credit once half the window is consumed, not after every data frame, and never stalls the sender", function () {
    const { stream: s, sent } = stream(StreamState.Established);
    receive(s, sent, 1_000, 4 * 1024);
    const updates = sent.filter((frame) => frame.type === WINDOW_UPDATE);
    // 4 MB through a 256 KB window: one update per 128 KB consumed (the library sent 1,000).
    expect(updates.length).to.equal(Math.floor((1_000 * 4 * 1024) / (WINDOW / 2)));
    for (const update of updates) expect(update.length).to.be.at.least(WINDOW / 2);
  });

  it("lets a message larger than half the window through", function () {
    const { stream: s, sent } = stream(StreamState.Established);
    // One 1 MB gossip message arrives as window-sized data frames.
    receive(s, sent, 4, WINDOW);
    expect(sent.filter((frame) => frame.type === WINDOW_UPDATE).length).to.equal(4);
  });

  it("still acknowledges a new inbound stream at once", function () {
    const { stream: s, sent } = stream(StreamState.SYNReceived);
    s.handleData({ header: { type: DATA, flag: 0, streamID: 1, length: 10 }, data: new Uint8ArrayList(new Uint8Array(10)) });
    expect(sent).to.deep.equal([{ type: WINDOW_UPDATE, flag: ACK, length: 10 }]);
  });
});
