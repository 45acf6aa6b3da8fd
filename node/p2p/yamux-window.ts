/**
 * Yamux receive-window updates at half a window, as go-yamux and the yamux spec's reference
 * implementation send them. @chainsafe/libp2p-yamux 8 answers every data frame it receives with a
 * window-update frame, so each gossip message costs a second frame each way: one more Noise
 * encryption and socket write at the receiver and one more decryption and frame parse at the sender,
 * about as much transport CPU as the message itself. Granting credit only once at least half the
 * window has been consumed keeps flow control whole: the sender never waits with credit owed to it,
 * since it runs out only after the receiver has consumed past the half and sent the update.
 *
 * Applied once, to the stream class every yamux muxer of this process creates.
 */
import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";

/** YamuxStream's fields the update reads (private in its declarations, plain fields at run time). */
interface WindowState {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
  maxStreamWindowSize: number;
  epochStart: number;
  getRTT(): number;
  getSendFlags(): number;
  sendFrame(header: { type: number; flag: number; streamID: number; length: number }): boolean;
  streamId: number;
}

/** Yamux frame type of a window update (the spec's 0x1). */
const WINDOW_UPDATE = 1;

/** The library's update, except that a flagless one waits until half the window is consumed. */
function sendWindowUpdate(this: WindowState): void {
  if (this.state === StreamState.Paused) {
    // Paused: no credit until resumed (the library's behaviour); restart the epoch for the RTT check.
    this.epochStart = Date.now();
    return;
  }
  const flags = this.getSendFlags();
  // SYN, ACK and the like go out at once; plain credit only past half a window.
  if (flags === 0 && this.recvWindowCapacity * 2 > this.recvWindow) return;
  const now = Date.now();
  const rtt = this.getRTT();
  // The library's auto-tuning: a window consumed within 4 round trips doubles (up to the maximum).
  if (flags === 0 && rtt > -1 && now - this.epochStart <= rtt * 4) {
    this.recvWindow = Math.min(this.recvWindow * 2, this.maxStreamWindowSize);
  }
  if (this.recvWindowCapacity >= this.recvWindow && flags === 0) return;
  const delta = this.recvWindow - this.recvWindowCapacity;
  this.recvWindowCapacity = this.recvWindow;
  this.epochStart = now;
  this.sendFrame({ type: WINDOW_UPDATE, flag: flags, streamID: this.streamId, length: delta });
}

let applied = false;

/** Installs the half-window update on YamuxStream (idempotent). */
export function applyYamuxWindowUpdates(): void {
  if (applied) return;
  applied = true;
  (YamuxStream.prototype as unknown as { sendWindowUpdate: (this: WindowState) => void }).sendWindowUpdate = sendWindowUpdate;
}
