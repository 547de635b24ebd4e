/**
 * The WebSocket feed's frames (docs/feed.md, "Frames"): JSON text, one
 * object a frame. What a client may send is parsed here, and anything else
 * is a protocol error that closes the socket with 1008 and a short reason.
 */

/** A client frame larger than this closes the socket. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Events sent on one socket and not yet acked or nacked, at most. */
export const MAX_OUTSTANDING = 1000;
/** Ids in one ack or nack frame, as in the pull API. */
export const MAX_FRAME_IDS = 1000;
/** A nack's delaySeconds, as in the pull API. */
export const MAX_DELAY_SECONDS = 43_200;

/** The frame a ping is, answered by the runtime without waking the queue. */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

export type ClientFrame =
  | { readonly type: "credit"; readonly n: number }
  | { readonly type: "ack"; readonly ids: string[]; readonly credit: number }
  | { readonly type: "nack"; readonly ids: string[]; readonly delaySeconds: number; readonly credit: number };

/** A frame the feed refuses: the socket closes with 1008 and this reason (at most 123 bytes, as WebSocket allows). */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/** Parses one client frame; throws FrameError for a binary, oversized, malformed or unknown one. */
export function parseFrame(message: string | ArrayBuffer): ClientFrame {
  if (typeof message !== "string") throw new FrameError("frames are JSON text, not binary");
  // A UTF-16 code unit is at most 3 bytes of UTF-8: only a frame near the bound is measured.
  if (message.length * 3 > MAX_FRAME_BYTES && new TextEncoder().encode(message).length > MAX_FRAME_BYTES) {
    throw new FrameError(`frame over ${MAX_FRAME_BYTES / 1024} KiB`);
  }
  let frame: unknown;
  try {
    frame = JSON.parse(message);
  } catch {
    throw new FrameError("frame is not JSON");
  }
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) throw new FrameError("frame is not a JSON object");
  const { type } = frame as { type?: unknown };
  switch (type) {
    case "credit": {
      const { n } = frame as { n?: unknown };
      if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_OUTSTANDING) {
        throw new FrameError(`credit n must be a whole number from 1 to ${MAX_OUTSTANDING}`);
      }
      return { type, n: n as number };
    }
    case "ack":
      return { type, ids: ids(frame), credit: credit(frame) };
    case "nack": {
      const { delaySeconds = 0 } = frame as { delaySeconds?: unknown };
      if (!Number.isInteger(delaySeconds) || (delaySeconds as number) < 0 || (delaySeconds as number) > MAX_DELAY_SECONDS) {
        throw new FrameError(`nack delaySeconds must be a whole number from 0 to ${MAX_DELAY_SECONDS}`);
      }
      return { type, ids: ids(frame), delaySeconds: delaySeconds as number, credit: credit(frame) };
    }
    default:
      throw new FrameError(typeof type === "string" ? `unknown frame type "${type.slice(0, 32)}"` : "frame has no type");
  }
}

function ids(frame: object): string[] {
  const { ids } = frame as { ids?: unknown };
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_FRAME_IDS || !ids.every((id) => typeof id === "string" && id.length > 0 && id.length <= 128)) {
    throw new FrameError(`ids must be an array of 1 to ${MAX_FRAME_IDS} event ids`);
  }
  return ids as string[];
}

/** An ack's or nack's `credit`, as a credit frame's n that follows it (0 when absent): one frame, and one commit, for both. */
function credit(frame: object): number {
  const { credit = 0 } = frame as { credit?: unknown };
  if (!Number.isInteger(credit) || (credit as number) < 0 || (credit as number) > MAX_OUTSTANDING) {
    throw new FrameError(`credit must be a whole number from 0 to ${MAX_OUTSTANDING}`);
  }
  return credit as number;
}

/** An event frame: the stored event JSON (or the destination's transform of it) spliced in as it is. */
export function eventFrame(id: string, attempts: number, body: string): string {
  return `{"type":"event","id":${JSON.stringify(id)},"attempts":${attempts},"event":${body}}`;
}
