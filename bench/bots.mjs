// bench/bots.mjs — the AI-bot stream phases' requests, and what their answers
// must be (docs/replies.md, "AI-bot streams"):
//
//   a user's message   WeCom → POST /callback/{app}                 → a stream reply: new id, the placeholder
//   a refresh          WeCom → POST /callback/{app}                 → a stream reply: that id, what it holds now
//   a stream update    intranet → POST /bots/{app}/streams/{id}     → 200 {"id", "finish", "bytes"}
//
// `Streams` remembers the streams opened and what each was last given, so
// that every refresh answer is checked against the content the benchmark
// itself put there (updates and refreshes run in turns, never at once).
import { botMessage, botPostRequest, botRefresh } from "./wecom.mjs";

const STREAM_ID = /^stream_[0-9a-f]{32}$/;

/** The text an LLM answer has after `level` steps: ~150 bytes a step, mixed Chinese and ASCII so that bytes ≠ characters. */
export function snapshot(level) {
  const step = "根据公司差旅制度，单次出差超过三天需部门负责人审批。 Per policy 4.2, trips over 3 days need a manager's approval. ";
  return step.repeat(level).trimEnd();
}

export class Streams {
  constructor(app) {
    this.app = app;
    /** Stream ids in the order their stream start came back. */
    this.ids = [];
    this.opened = new Set();
    /** id → the content the last successful update gave it. */
    this.shown = new Map();
  }

  /** A distinct user message; its answer must open a new stream showing the placeholder, which is then remembered. */
  messageRequest() {
    return botPostRequest(this.app, botMessage(), (reply) => {
      const { id, finish, content } = reply.stream ?? {};
      if (reply.msgtype !== "stream" || !STREAM_ID.test(id) || finish !== false || content !== this.app.bot.placeholder) {
        return `not a stream start: ${JSON.stringify(reply).slice(0, 200)}`;
      }
      if (this.opened.has(id)) return `stream ${id} opened twice`;
      this.opened.add(id);
      this.ids.push(id);
      return null;
    });
  }

  /** A distinct refresh of stream `id`; its answer must be that stream, unfinished, with what it was last given. */
  refreshRequest(id) {
    const expected = this.shown.get(id) ?? this.app.bot.placeholder;
    return botPostRequest(this.app, botRefresh(id), (reply) => {
      const stream = reply.stream ?? {};
      if (reply.msgtype !== "stream" || stream.id !== id) return `not a refresh of ${id}: ${JSON.stringify(reply).slice(0, 200)}`;
      if (stream.finish !== false) return `stream ${id} is finished`;
      if (stream.content !== expected) return `stream ${id} shows ${Buffer.byteLength(stream.content ?? "")} bytes, not the ${Buffer.byteLength(expected)} last given`;
      return null;
    });
  }

  /**
   * The intranet replacing stream `id`'s content with `content` (a snapshot,
   * as WeCom shows them); the answer must count its UTF-8 bytes. Recorded as
   * shown when the request is built: a failed update is counted as a failure
   * here and again by the refreshes that then miss it.
   */
  updateRequest(id, content) {
    this.shown.set(id, content);
    const bytes = Buffer.byteLength(content);
    return {
      method: "POST",
      path: `/bots/${this.app.name}/streams/${encodeURIComponent(id)}`,
      headers: { authorization: `Bearer ${this.app.bot.token}`, "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ content })),
      expect: {
        status: 200,
        check: (body) => {
          const answer = JSON.parse(body);
          return answer.id === id && answer.finish === false && answer.bytes === bytes ? null : `expected {"id": ${id}, "finish": false, "bytes": ${bytes}}, got ${body}`;
        },
      },
    };
  }

  /**
   * Requests `from` … `from + n - 1` of a phase that goes round the open
   * streams, or round every `every`-th of them (at most `over`): request k
   * is about the (k mod count)-th of those, and `make(id, k, count)` builds it.
   * A stride rather than the first few keeps every run of consecutive streams
   * (a refresh round) the same mix of streams that got updates and that did not.
   */
  spread(from, n, make, { every = 1, over = Infinity } = {}) {
    const count = Math.min(over, Math.floor(this.ids.length / every));
    if (count === 0) throw new Error("no streams are open");
    return Array.from({ length: n }, (_, i) => make(this.ids[((from + i) % count) * every], from + i, count));
  }
}
